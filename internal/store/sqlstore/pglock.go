package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgLocker holds this node's POP3 maildrop locks as session-level advisory
// locks on one dedicated connection, so that one maildrop has one session
// across all nodes (RFC 1939). A node that dies loses its connection, and
// PostgreSQL releases its locks at once.
//
// Advisory locks are re-entrant within a connection, so the store's
// in-process map keeps sessions of the same node apart; this connection
// only keeps nodes apart. If the connection drops while locks are held,
// they are released by the server; the locker reconnects (at the next use,
// or within a minute in the background) and takes them again. A session on
// another node may slip in during that window: the limit of this design,
// logged when it happens.
//
// The lock key is (pgLockSpace, int32(account id)); ids beyond 2^31 may
// share a key with another account, which can only make a lock refused.
type pgLocker struct {
	cfg  *pgx.ConnConfig
	log  *slog.Logger
	mu   sync.Mutex
	conn *pgx.Conn
	held map[int32]bool
}

// connect (re)opens the connection and re-takes the locks held. Callers hold mu.
func (l *pgLocker) connect(ctx context.Context) error {
	if l.conn != nil && !l.conn.IsClosed() {
		return nil
	}
	l.drop()
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return err
	}
	for key := range l.held {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(pgLockSpace), key).Scan(&ok); err != nil {
			conn.Close(context.Background())
			return err
		}
		if !ok {
			l.log.Warn("maildrop lock taken by another node while the lock connection was down", "account_key", key)
		}
	}
	l.conn = conn
	return nil
}

// drop closes the connection (releasing its locks on the server). Callers hold mu.
func (l *pgLocker) drop() {
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// lock tries to take the lock of key for this node.
func (l *pgLocker) lock(ctx context.Context, key int32) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	// A connection idle for long may have died unnoticed: one more try on
	// a new connection.
	for range 2 {
		if err = l.connect(ctx); err != nil {
			return false, err
		}
		var ok bool
		if err = l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(pgLockSpace), key).Scan(&ok); err == nil {
			if ok {
				l.held[key] = true
			}
			return ok, nil
		}
		l.drop()
	}
	return false, err
}

// unlock releases key. When that fails, the connection is closed, which
// releases every lock on it; the others are taken again at reconnection.
func (l *pgLocker) unlock(key int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, key)
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, int32(pgLockSpace), key); err != nil {
		l.drop()
	}
}

// check makes sure the connection is alive while locks are held, so a
// lost connection is noticed (and the locks re-taken) without waiting for
// the next lock.
func (l *pgLocker) check(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.held) == 0 {
		l.drop() // idle: give the connection back
		return
	}
	if l.conn != nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := l.conn.Ping(pctx)
		cancel()
		if err != nil {
			l.drop()
		}
	}
	if err := l.connect(ctx); err != nil && ctx.Err() == nil {
		l.log.Warn("maildrop locks: cannot reconnect", "err", err)
	}
}

func (l *pgLocker) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop()
}

package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Change notifications between nodes (PostgreSQL). Every transaction that
// publishes store.Changes also sends one NOTIFY on pgChannel, delivered to
// the other nodes when (and only if) it commits. Each store LISTENs on a
// dedicated connection and republishes other nodes' changes to its broker.
// Changes are only hints (subscribers resync with Changes), so a lost or
// duplicated notification is harmless; after a lost connection, a Resync
// tells subscribers to re-check everything.
//
// Payload: "<node> <kind>,<account>,<mailbox>,<modseq> ...", or "<node> R"
// when the changes do not fit (NOTIFY payloads stay under 8000 bytes).
const pgChannel = "kantorpos_changes"

const maxPayload = 7000

func notifyPayload(node string, changes []store.Change) string {
	var b strings.Builder
	b.WriteString(node)
	for _, c := range changes {
		fmt.Fprintf(&b, " %d,%d,%d,%d", c.Kind, c.AccountID, c.MailboxID, c.ModSeq)
		if b.Len() > maxPayload {
			return node + " R"
		}
	}
	return b.String()
}

// parsePayload returns the sending node and its changes; a malformed item
// becomes a Resync.
func parsePayload(p string) (node string, changes []store.Change) {
	f := strings.Fields(p)
	if len(f) == 0 {
		return "", []store.Change{{Kind: store.Resync}}
	}
	for _, item := range f[1:] {
		var c store.Change
		parts := strings.Split(item, ",")
		if len(parts) != 4 {
			return f[0], []store.Change{{Kind: store.Resync}}
		}
		k, err1 := strconv.Atoi(parts[0])
		a, err2 := strconv.ParseInt(parts[1], 10, 64)
		m, err3 := strconv.ParseInt(parts[2], 10, 64)
		s, err4 := strconv.ParseUint(parts[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return f[0], []store.Change{{Kind: store.Resync}}
		}
		c.Kind, c.AccountID, c.MailboxID, c.ModSeq = store.ChangeKind(k), a, m, s
		changes = append(changes, c)
	}
	return f[0], changes
}

// listen opens the notification connection.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, dedicated(s.pg.cfg, "listen"))
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// listenLoop republishes other nodes' changes until ctx ends, reconnecting
// (with backoff) when the connection is lost. conn is already listening.
func (s *Store) listenLoop(ctx context.Context, conn *pgx.Conn) {
	defer s.bg.Done()
	backoff := 100 * time.Millisecond
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			c, err := s.listen(ctx)
			if err != nil {
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			conn, backoff = c, 100*time.Millisecond
			s.log.Info("change notifications: reconnected")
			// Whatever happened meanwhile was not heard.
			s.broker.Publish(store.Change{Kind: store.Resync})
		}
		// Wake up now and then to check that the connection is alive: a
		// silent network failure sends no error.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			s.republish(n.Payload)
			continue
		}
		if ctx.Err() != nil {
			conn.Close(context.Background())
			return
		}
		if !conn.IsClosed() && pgconn.Timeout(err) {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		s.log.Warn("change notifications: connection lost", "err", err)
		conn.Close(context.Background())
		conn = nil
	}
}

func (s *Store) republish(payload string) {
	node, changes := parsePayload(payload)
	if node == s.pg.node {
		return // published locally at commit
	}
	for _, c := range changes {
		s.broker.Publish(c)
	}
}

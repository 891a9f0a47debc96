package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// maxBatch bounds how many write requests share one commit.
const maxBatch = 256

// wtx is a write transaction handed to a write function. after runs once
// the transaction is durably committed (publishing changes, removing files).
type wtx struct {
	*sql.Tx
	cache   *stmtCache // the SQLite writer's statements (nil: none)
	d       dialect
	changes []store.Change
	after   []func()
}

func (t *wtx) publish(c store.Change) { t.changes = append(t.changes, c) }

type writeReq struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
}

// write runs fn in a write transaction and returns once it is durably
// committed. With SQLite, concurrent writes share one commit (group commit):
// each runs inside its own SAVEPOINT, so one failing request rolls back only
// its own changes.
func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	if s.observeWrite != nil {
		start := time.Now()
		defer func() { s.observeWrite(time.Since(start)) }()
	}
	if s.d.name == "postgres" {
		return s.writePostgres(ctx, fn)
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("sqlstore: %w: store closed", store.ErrUnavailable)
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return fmt.Errorf("sqlstore: %w: store closed", store.ErrUnavailable)
	}
	// Once queued, wait for the outcome: a request whose context ended
	// before it started is skipped (and reports ctx.Err()); one that started
	// runs to completion, so the answer always tells the truth.
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		select {
		case err := <-req.done:
			return err
		default:
			return fmt.Errorf("sqlstore: %w: store closed", store.ErrUnavailable)
		}
	}
}

// writer is the single SQLite writer goroutine.
func (s *Store) writer() {
	defer close(s.stopped)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var dataVersion int64
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-tick.C:
			s.housekeeping(&dataVersion)
			continue
		case <-s.stop:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-s.writes:
					s.commitBatch([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch := []*writeReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []*writeReq) {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range batch {
			r.done <- unavailable("begin", err)
		}
		return
	}
	t := &wtx{Tx: tx, d: s.d, cache: s.wstmts}
	results := make([]error, len(batch))
	type effects struct {
		changes []store.Change
		after   []func()
	}
	fx := make([]effects, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := t.Exec("SAVEPOINT w"); err != nil {
			results[i] = unavailable("savepoint", err)
			continue
		}
		t.changes, t.after = nil, nil
		err := r.fn(t)
		if err != nil {
			if _, rerr := tx.Exec("ROLLBACK TO w"); rerr != nil {
				// The transaction is unusable: fail the whole batch.
				tx.Rollback()
				for _, r := range batch {
					r.done <- unavailable("rollback to savepoint", rerr)
				}
				return
			}
		}
		if _, rerr := t.Exec("RELEASE w"); rerr != nil && err == nil {
			err = unavailable("release", rerr)
		}
		results[i] = err
		if err == nil {
			fx[i] = effects{t.changes, t.after}
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range batch {
			r.done <- unavailable("commit", err)
		}
		return
	}
	defer s.prepareWriter(ctx)
	for i, r := range batch {
		if results[i] == nil {
			for _, c := range fx[i].changes {
				s.broker.Publish(c)
			}
			for _, f := range fx[i].after {
				f()
			}
		}
		r.done <- results[i]
	}
}

// housekeeping runs on the writer when it is idle: it notices commits by
// other processes (admin commands) and collects unreferenced blobs.
func (s *Store) housekeeping(dataVersion *int64) {
	var v int64
	if err := s.wdb.QueryRow("PRAGMA data_version").Scan(&v); err == nil {
		if *dataVersion != 0 && v != *dataVersion {
			s.broker.Publish(store.Change{Kind: store.Resync})
		}
		*dataVersion = v
	}
	s.collectBlobs(context.Background())
}

// collectBlobs removes the files of blobs that lost their last reference
// more than the grace period ago and were not referenced again since. A
// file written very recently (a delivery racing with us) is left for a
// later round.
func (s *Store) collectBlobs(ctx context.Context) {
	cutoff := s.now() - int64(s.grace)
	rows, err := s.query(ctx, `SELECT hash FROM blob_trash WHERE trashed < $1 LIMIT 500`, cutoff)
	if err != nil {
		s.log.Warn("blob gc: list", "err", err)
		return
	}
	var hashes []string
	for rows.Next() {
		var h string
		if rows.Scan(&h) == nil {
			hashes = append(hashes, h)
		}
	}
	rows.Close()
	for _, h := range hashes {
		err := s.writeDirect(ctx, func(t *wtx) error {
			var n int
			if err := t.QueryRow(`SELECT count(*) FROM blobs WHERE hash = $1`, h).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				removed, err := s.blobs.RemoveStale(ctx, h)
				if err != nil || !removed {
					return err
				}
			}
			_, err := t.Exec(`DELETE FROM blob_trash WHERE hash = $1`, h)
			return err
		})
		if err != nil {
			s.log.Warn("blob gc", "hash", h, "err", err)
			return
		}
	}
}

// SweepOrphans removes blob files that no row refers to and that are not
// recent: leftovers of a crash between writing a blob and committing the
// message. It returns how many files it removed.
func (s *Store) SweepOrphans(ctx context.Context) (int, error) {
	if pb, ok := s.blobs.(*PGBlobs); ok {
		n, err := pb.sweep(ctx)
		if n > 0 {
			s.log.Info("blob sweep: removed orphaned blob content", "count", n)
		}
		return n, err
	}
	var candidates []string
	err := s.blobs.Walk(ctx, func(hash string, _ int64, _ time.Time) error {
		var n int
		if err := s.queryRow(ctx, `SELECT count(*) FROM blobs WHERE hash = $1`, hash).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			candidates = append(candidates, hash)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore: sweep: %w", err)
	}
	removed := 0
	for _, h := range candidates {
		err := s.write(ctx, func(t *wtx) error {
			var n int
			if err := t.QueryRow(`SELECT count(*) FROM blobs WHERE hash = $1`, h).Scan(&n); err != nil || n > 0 {
				return err
			}
			ok, err := s.blobs.RemoveStale(ctx, h)
			if ok {
				removed++
			}
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("sqlstore: sweep: %w", err)
		}
	}
	if removed > 0 {
		s.log.Info("blob sweep: removed orphaned blob files", "count", removed)
	}
	return removed, nil
}

// writeDirect runs fn in its own transaction on the writer connection; only
// the writer goroutine (or PostgreSQL) may call it.
func (s *Store) writeDirect(ctx context.Context, fn func(*wtx) error) error {
	if s.d.name == "postgres" {
		return s.writePostgres(ctx, fn)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &wtx{Tx: tx, d: s.d}
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, c := range t.changes {
		s.broker.Publish(c)
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

// writePostgres runs fn in its own transaction (READ COMMITTED; writers of
// one mailbox queue up on its row lock, see mailboxAccount), retrying
// serialization failures and deadlocks a few times.
func (s *Store) writePostgres(ctx context.Context, fn func(*wtx) error) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("sqlstore: %w: store closed", store.ErrUnavailable)
	}
	var err error
	for attempt := range 10 {
		if attempt > 0 {
			// Back off a little, differently for each contender.
			select {
			case <-time.After(time.Duration(attempt) * time.Duration(1+rand.IntN(10)) * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err = s.writePostgresOnce(ctx, fn); err == nil || !s.d.retryable(err) {
			return err
		}
		s.log.Debug("retrying a transaction", "attempt", attempt+1, "err", err)
	}
	return err
}

func (s *Store) writePostgresOnce(ctx context.Context, fn func(*wtx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	t := &wtx{Tx: tx, d: s.d}
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	// Other nodes hear of the changes when (and only if) this commits.
	if len(t.changes) > 0 {
		if _, err := tx.Exec(`SELECT pg_notify($1, $2)`, pgChannel, notifyPayload(s.pg.node, t.changes)); err != nil {
			tx.Rollback()
			return unavailable("notify", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	for _, c := range t.changes {
		s.broker.Publish(c)
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

var errNoRows = sql.ErrNoRows

func notFound(err error, what string) error {
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// Package sqlstore implements store.Store on SQL: SQLite (embedded default,
// pure Go driver, WAL) and PostgreSQL (cluster mode). One implementation,
// two dialects; protocol code never imports this package.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite" // the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Options configure Open.
type Options struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string
	// Path is the SQLite database file.
	Path string
	// DSN is the PostgreSQL connection string.
	DSN string
	// MaxConns bounds the read pool (PostgreSQL: the whole pool).
	MaxConns int
	// Blobs stores message bodies. Required with SQLite (blob.FS); nil
	// with PostgreSQL keeps them in the database (PGBlobs, see Store.Blobs),
	// as cluster mode needs.
	Blobs blob.Store
	// Broker receives a Change after every commit; nil makes a new one.
	Broker *store.Broker
	Clock  clock.Clock
	Log    *slog.Logger
	// BlobGrace is how long a blob with no references is kept before its
	// file is removed (default 10 minutes). With the PostgreSQL blob store
	// it is also how recently written content must not be, by the
	// database's clock, to be removed (FS.MinAge for files).
	BlobGrace time.Duration
	// ObserveWrite, when set, is told how long each write transaction took
	// from request to durable commit (metrics).
	ObserveWrite func(time.Duration)
}

// Store is the SQL store.
type Store struct {
	db  *sql.DB // reads (and writes, for PostgreSQL)
	wdb *sql.DB // SQLite: the single writer connection
	// rstmts and wstmts cache prepared statements of db and wdb (SQLite).
	rstmts, wstmts *stmtCache
	d              dialect
	blobs          blob.Store
	broker         *store.Broker
	clock          clock.Clock
	log            *slog.Logger
	grace          time.Duration
	// observeWrite receives write latencies (Options.ObserveWrite).
	observeWrite func(time.Duration)

	writes  chan *writeReq
	stop    chan struct{}
	stopped chan struct{}
	mu      sync.Mutex // guards closed
	closed  bool

	locks sync.Map // POP3 maildrop locks of this process: accountID → time taken
	bg    sync.WaitGroup

	pg *pgState // PostgreSQL only
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database and runs the migrations.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Blobs == nil && o.Driver != "postgres" {
		return nil, errors.New("sqlstore: no blob store")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Broker == nil {
		o.Broker = store.NewBroker()
	}
	if o.BlobGrace == 0 {
		o.BlobGrace = 10 * time.Minute
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	s := &Store{
		blobs: o.Blobs, broker: o.Broker, clock: o.Clock, log: o.Log, grace: o.BlobGrace, observeWrite: o.ObserveWrite,
		writes: make(chan *writeReq, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	var err error
	switch o.Driver {
	case "", "sqlite":
		err = s.openSQLite(o)
	case "postgres":
		err = s.openPostgres(ctx, o)
	default:
		err = fmt.Errorf("sqlstore: unknown driver %q", o.Driver)
	}
	if err != nil {
		return nil, err
	}
	if s.blobs == nil {
		s.blobs = newPGBlobs(s.db, o.BlobGrace)
	}
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.pg != nil {
		if err := s.startPostgres(ctx); err != nil {
			s.closeDBs()
			return nil, err
		}
	} else {
		go s.writer()
	}
	s.bg.Add(1)
	go s.maintenance()
	return s, nil
}

// maintenance sweeps orphaned blob files a minute after start and then
// every six hours, until Close.
func (s *Store) maintenance() {
	defer s.bg.Done()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if _, err := s.SweepOrphans(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("blob sweep", "err", err)
			}
			cancel()
			t.Reset(6 * time.Hour)
		}
	}
}

func (s *Store) openSQLite(o Options) error {
	if o.Path == "" {
		return errors.New("sqlstore: no database path")
	}
	if err := registerSQLiteFunctions(); err != nil {
		return fmt.Errorf("sqlstore: register functions: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	if err := createPrivate(o.Path); err != nil {
		return err
	}
	// synchronous(FULL): a commit that acknowledges mail is on disk.
	base := "file:" + o.Path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("sqlstore: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", o.Path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open: %w", err)
	}
	r.SetMaxOpenConns(o.MaxConns)
	r.SetMaxIdleConns(o.MaxConns)
	s.db, s.wdb, s.d = r, w, sqliteDialect()
	s.rstmts, s.wstmts = newStmtCache(r, false), newStmtCache(w, true)
	return nil
}

func (s *Store) closeDBs() {
	s.rstmts.close()
	s.wstmts.close()
	if s.wdb != nil && s.wdb != s.db {
		s.wdb.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// Close implements store.Store: pending writes finish, then the databases close.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.bg.Wait()
	<-s.stopped
	s.closeDBs()
	return nil
}

// Subscribe implements store.Changes.
func (s *Store) Subscribe() *store.Subscription { return s.broker.Subscribe() }

// Blobs returns the blob store in use (with PostgreSQL and no
// Options.Blobs, the store's own PGBlobs).
func (s *Store) Blobs() blob.Store { return s.blobs }

// Broker returns the broker changes are published to.
func (s *Store) Broker() *store.Broker { return s.broker }

// DB returns the read pool, for backup and diagnostics.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

func (s *Store) now() int64 { return s.clock.Now().UnixNano() }

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Message dates (messages.internal_date, blobs.sent_date) are kept in
// microseconds since 1970 (migration 0006): nanoseconds in an int64 end in
// 2262, and a client may APPEND any date of years 1 to 9999 (RFC 9051
// date-year is four digits), which must come back as sent.

// dateMicros encodes a message date.
func dateMicros(t time.Time) int64 { return t.UnixMicro() }

// fromDateMicros decodes messages.internal_date: never absent, so 0 is
// 1970-01-01 00:00:00 UTC.
func fromDateMicros(n int64) time.Time { return time.UnixMicro(n) }

// sentMicros encodes blobs.sent_date, where 0 means no usable Date header
// (so a Date of exactly the epoch reads as absent).
func sentMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromSentMicros decodes blobs.sent_date.
func fromSentMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// unavailable marks errors that are temporary for the client.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrNotEmpty, store.ErrInvalidName,
		store.ErrQuotaExceeded, store.ErrLocked, store.ErrLeaseLost, store.ErrUnavailable} {
		if errors.Is(err, e) {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
	}
	if diskFull(err) {
		// Still temporary, and the protocols' "disk full" reply (452 4.3.1, NO [LIMIT]).
		return fmt.Errorf("sqlstore: %s: %w: %w: %w", op, store.ErrUnavailable, blob.ErrNoSpace, err)
	}
	return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

// diskFull reports whether the database could not grow: SQLITE_FULL (the
// WAL or database file hit a full disk), PostgreSQL's disk_full, ENOSPC.
func diskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" {
		return true
	}
	return blob.IsNoSpace(err)
}

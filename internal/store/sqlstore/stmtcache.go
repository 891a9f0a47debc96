package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements for the queries a database handle
// runs again and again (SQLite parses every unprepared query anew: on the
// SMTP path that was 7% of the server's CPU). A query is prepared on its
// third use, so that queries built for one request (searches, UID sets)
// do not fill the cache; at most stmtCacheMax are kept.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	uses  map[string]int
	// deferred: queries are prepared later by the caller (pending), not
	// by get's caller; due lists those that reached stmtCacheAfter uses.
	deferred bool
	due      []string
}

const (
	stmtCacheMax   = 256
	stmtCacheAfter = 3    // uses before a query is prepared
	stmtCacheUses  = 4096 // distinct queries counted before the counts restart
)

func newStmtCache(db *sql.DB, deferred bool) *stmtCache {
	return &stmtCache{db: db, deferred: deferred, stmts: map[string]*sql.Stmt{}, uses: map[string]int{}}
}

// get returns the prepared statement of query, if there is one, and
// whether it is time to prepare it.
func (c *stmtCache) get(query string) (st *sql.Stmt, prepare bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st, false
	}
	if len(c.stmts) >= stmtCacheMax {
		return nil, false
	}
	if len(c.uses) >= stmtCacheUses {
		clear(c.uses)
	}
	c.uses[query]++
	if c.deferred && c.uses[query] == stmtCacheAfter && len(c.stmts)+len(c.due) < stmtCacheMax {
		c.due = append(c.due, query)
	}
	return nil, c.uses[query] >= stmtCacheAfter
}

// prepare prepares query on the handle and keeps it. It must not be called
// while the caller holds the handle's only connection (the SQLite writer
// inside a transaction).
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain query reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.stmts[query]; old != nil {
		st.Close()
		return old
	}
	c.stmts[query] = st
	delete(c.uses, query)
	return st
}

// pending returns, and forgets, the queries that reached stmtCacheAfter
// uses since the last call.
func (c *stmtCache) pending() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	due := c.due
	c.due = nil
	return due
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// query and queryRow run a read on s.db through the statement cache.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, prep := s.rstmts.get(q)
	if st == nil && prep {
		st = s.rstmts.prepare(ctx, q)
	}
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, prep := s.rstmts.get(q)
	if st == nil && prep {
		st = s.rstmts.prepare(ctx, q)
	}
	if st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

// Exec, Query and QueryRow of a write transaction use the writer's cached
// statements; queries due to be prepared are prepared after the commit
// (prepareWriter), when the connection is free.
func (t *wtx) stmt(q string) *sql.Stmt {
	st, _ := t.cache.get(q)
	if st == nil {
		return nil
	}
	return t.Tx.Stmt(st)
}

func (t *wtx) Exec(q string, args ...any) (sql.Result, error) {
	if st := t.stmt(q); st != nil {
		return st.Exec(args...)
	}
	return t.Tx.Exec(q, args...)
}

func (t *wtx) Query(q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(q); st != nil {
		return st.Query(args...)
	}
	return t.Tx.Query(q, args...)
}

func (t *wtx) QueryRow(q string, args ...any) *sql.Row {
	if st := t.stmt(q); st != nil {
		return st.QueryRow(args...)
	}
	return t.Tx.QueryRow(q, args...)
}

// prepareWriter prepares the writer's queries that are due; called between
// transactions.
func (s *Store) prepareWriter(ctx context.Context) {
	if s.wstmts == nil {
		return
	}
	for _, q := range s.wstmts.pending() {
		s.wstmts.prepare(ctx, q)
	}
}

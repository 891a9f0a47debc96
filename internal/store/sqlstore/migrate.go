package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrations embed.FS

// migrate applies, in order, every embedded migration of the dialect that
// the database has not seen. Migrations are forward only.
func (s *Store) migrate(ctx context.Context) error {
	var db interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	} = s.wdb
	if s.pg != nil {
		// Nodes starting together migrate one at a time: the others wait
		// for the lock, then find nothing left to do.
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return unavailable("migrate", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(pgLockSpace), int32(pgLockMigrate)); err != nil {
			return unavailable("migrate: lock", err)
		}
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, int32(pgLockSpace), int32(pgLockMigrate))
		db = conn
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	dir := "migrations/" + s.d.name
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		num, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if err != nil || !strings.HasSuffix(name, ".sql") {
			return fmt.Errorf("sqlstore: bad migration name %q", name)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(migrations, dir+"/"+name)
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlstore: migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)`, version, s.now()); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", name, err)
		}
		s.log.Info("schema migration applied", "version", version, "dialect", s.d.name)
	}
	return nil
}

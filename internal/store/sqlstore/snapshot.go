package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"modernc.org/sqlite"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Snapshot writes a consistent copy of the SQLite database at dbPath to
// dst, while a server may be running on it. It uses SQLite's online backup
// API on a connection of its own and copies every page in one step, that is
// inside one read transaction: in WAL mode the server's writer keeps
// committing meanwhile, and the copy is the database as of the moment the
// step began. The copy is left in rollback-journal mode (one self-contained
// file, no -wal beside it) and fsynced with its directory. dst must not exist.
func Snapshot(ctx context.Context, dbPath, dst string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("sqlstore: snapshot: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("sqlstore: snapshot: %s already exists", dst)
	}
	src, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("sqlstore: snapshot: %w", err)
	}
	defer src.Close()
	conn, err := src.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: snapshot: open %s: %w", dbPath, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		bc, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return errors.New("the SQLite driver has no online backup API")
		}
		// The copy holds what the database holds: 0600 (SQLite would
		// create it 0644 less the umask; an empty file is a new database).
		if err := createPrivate(dst); err != nil {
			return err
		}
		b, err := bc.NewBackup(dst)
		if err != nil {
			return err
		}
		// One step copies every page under one read lock: a consistent
		// snapshot. Steps of a few pages would restart whenever the
		// server commits, and might never finish under load.
		_, stepErr := b.Step(-1)
		if err := b.Finish(); err != nil && stepErr == nil {
			stepErr = err
		}
		return stepErr
	})
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("sqlstore: snapshot of %s: %w", dbPath, err)
	}
	if err := toRollbackJournal(ctx, dst); err != nil {
		os.Remove(dst)
		return err
	}
	return syncFileAndDir(dst)
}

// toRollbackJournal makes a database copy one self-contained file.
func toRollbackJournal(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("sqlstore: snapshot: %w", err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return fmt.Errorf("sqlstore: snapshot: journal mode: %w", err)
	}
	return db.Close()
}

func syncFileAndDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("sqlstore: fsync %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sqlstore: fsync directory of %s: %w", path, err)
	}
	return nil
}

// SnapshotInfo is what a database copy holds, for a backup manifest and
// its verification.
type SnapshotInfo struct {
	SchemaVersion int
	// Blobs lists every blob row (hash and size), in hash order.
	Blobs []store.BlobRef
	// Dangling counts message and queue rows whose blob row is missing
	// (0 in a sound database).
	Dangling int
	Counts   SnapshotCounts
}

// SnapshotCounts are row counts of a database copy.
type SnapshotCounts struct {
	Domains   int `json:"domains"`
	Accounts  int `json:"accounts"`
	Mailboxes int `json:"mailboxes"`
	Messages  int `json:"messages"`
	Queue     int `json:"queue"`
	DKIMKeys  int `json:"dkim_keys"`
}

// ReadSnapshot opens a database copy read-only and lists what it holds.
// With integrity set it also runs SQLite's integrity_check.
func ReadSnapshot(ctx context.Context, path string, integrity bool) (SnapshotInfo, error) {
	var info SnapshotInfo
	if _, err := os.Stat(path); err != nil {
		return info, fmt.Errorf("sqlstore: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return info, fmt.Errorf("sqlstore: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if integrity {
		rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
		if err != nil {
			return info, fmt.Errorf("sqlstore: integrity check of %s: %w", path, err)
		}
		var problems []string
		for rows.Next() {
			var s string
			if rows.Scan(&s) == nil && s != "ok" {
				problems = append(problems, s)
			}
		}
		rows.Close()
		if len(problems) > 0 {
			return info, fmt.Errorf("sqlstore: %s is damaged: %v", path, problems)
		}
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("sqlstore: %s: not a kantorpos database: %w", path, err)
	}
	for _, c := range []struct {
		n *int
		q string
	}{
		{&info.Counts.Domains, `SELECT count(*) FROM domains`},
		{&info.Counts.Accounts, `SELECT count(*) FROM accounts`},
		{&info.Counts.Mailboxes, `SELECT count(*) FROM mailboxes`},
		{&info.Counts.Messages, `SELECT count(*) FROM messages`},
		{&info.Counts.Queue, `SELECT count(*) FROM queue`},
		{&info.Counts.DKIMKeys, `SELECT count(*) FROM dkim_keys`},
		{&info.Dangling, `SELECT (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = m.blob_id))
			+ (SELECT count(*) FROM queue q WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = q.blob_id))`},
	} {
		if err := db.QueryRowContext(ctx, c.q).Scan(c.n); err != nil {
			return info, fmt.Errorf("sqlstore: read %s: %w", path, err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT hash, size FROM blobs ORDER BY hash`)
	if err != nil {
		return info, fmt.Errorf("sqlstore: read %s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.BlobRef
		if err := rows.Scan(&r.Hash, &r.Size); err != nil {
			return info, fmt.Errorf("sqlstore: read %s: %w", path, err)
		}
		info.Blobs = append(info.Blobs, r)
	}
	if err := rows.Err(); err != nil {
		return info, fmt.Errorf("sqlstore: read %s: %w", path, err)
	}
	return info, nil
}

// BlobRowExists reports whether the live database at dbPath still has a
// row for hash (a backup uses it to tell a blob collected after its
// snapshot from one lost in the live data).
func BlobRowExists(ctx context.Context, dbPath, hash string) (bool, error) {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return false, fmt.Errorf("sqlstore: %w", err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM blobs WHERE hash = $1`, hash).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlstore: %w", err)
	}
	return n > 0, nil
}

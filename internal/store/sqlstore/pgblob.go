package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
)

// PGBlobs is the blob store of cluster mode: message bodies live in the
// PostgreSQL database (tables blob_content and blob_chunks), so nodes need
// no shared filesystem. It lives here rather than in package blob because
// it shares the store's schema, migrations and connection pool, and its
// garbage collection checks the store's blobs table in the same statement
// that deletes content.
//
// Content is kept in chunks (1 MiB by default) in BYTEA rows, so a message
// is never one huge value and reading part of it reads few rows. A blob is
// durable when Commit returns: the content row and its chunks commit in
// one transaction with synchronous_commit on.
type PGBlobs struct {
	db *sql.DB
	// chunk is the size of the chunks new blobs are cut into (each blob
	// records its own, so it may change).
	chunk int
	// minAge protects content (re)written recently from RemoveStale, as
	// FS.MinAge does: a delivery may be about to reference it.
	minAge time.Duration
	// spillAt is how much content a writer keeps in memory before moving
	// it to a temporary file (in spillDir; "" = os.TempDir()).
	spillAt  int
	spillDir string
}

var _ blob.Store = (*PGBlobs)(nil)

func newPGBlobs(db *sql.DB, minAge time.Duration) *PGBlobs {
	return &PGBlobs{db: db, chunk: 1 << 20, minAge: minAge, spillAt: 1 << 20}
}

// blobErr wraps a database error: a full disk is blob.ErrNoSpace (452),
// anything else a temporary failure.
func blobErr(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" { // disk_full
		err = fmt.Errorf("%w: %w", blob.ErrNoSpace, err)
	}
	return unavailable("blob "+op, err)
}

func validHash(h string) error {
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return fmt.Errorf("blob: invalid hash %q", h)
	}
	return nil
}

// Create implements blob.Store.
func (b *PGBlobs) Create(ctx context.Context) (blob.Writer, error) {
	return &pgWriter{b: b, h: sha256.New()}, nil
}

type pgWriter struct {
	b    *PGBlobs
	h    hash.Hash
	n    int64
	mem  []byte
	f    *os.File // content beyond spillAt
	done bool
}

func (w *pgWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("blob: write after commit or abort")
	}
	if w.f == nil && len(w.mem)+len(p) > w.b.spillAt {
		f, err := os.CreateTemp(w.b.spillDir, "kantorpos-blob-")
		if err != nil {
			return 0, fmt.Errorf("blob: spill: %w", err)
		}
		os.Remove(f.Name()) // unnamed: nothing to clean up after a crash
		w.f = f
		if _, err := f.Write(w.mem); err != nil {
			return 0, fmt.Errorf("blob: spill: %w", err)
		}
		w.mem = nil
	}
	if w.f != nil {
		n, err := w.f.Write(p)
		w.h.Write(p[:n])
		w.n += int64(n)
		if err != nil {
			return n, fmt.Errorf("blob: spill: %w", err)
		}
		return n, nil
	}
	w.mem = append(w.mem, p...)
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

func (w *pgWriter) Written() int64 { return w.n }

func (w *pgWriter) Commit(ctx context.Context) (store.BlobRef, error) {
	if w.done {
		return store.BlobRef{}, errors.New("blob: commit after commit or abort")
	}
	defer w.Abort()
	ref := store.BlobRef{Hash: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	var content io.Reader = bytes.NewReader(w.mem)
	if w.f != nil {
		if _, err := w.f.Seek(0, io.SeekStart); err != nil {
			return store.BlobRef{}, fmt.Errorf("blob: spill: %w", err)
		}
		content = w.f
	}
	tx, err := w.b.db.BeginTx(ctx, nil)
	if err != nil {
		return store.BlobRef{}, blobErr("commit", err)
	}
	defer tx.Rollback()
	// The same content may be stored already: then only its written time
	// is refreshed, which keeps it from the collector while the caller
	// records its new reference.
	var inserted bool
	err = tx.QueryRowContext(ctx, `INSERT INTO blob_content (hash, size, chunk) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO UPDATE SET written = now() RETURNING xmax = 0`, ref.Hash, ref.Size, w.b.chunk).Scan(&inserted)
	if err != nil {
		return store.BlobRef{}, blobErr("commit", err)
	}
	if inserted {
		buf := make([]byte, w.b.chunk)
		for seq := 0; ; seq++ {
			n, err := io.ReadFull(content, buf)
			if n > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO blob_chunks (hash, seq, data) VALUES ($1, $2, $3)`,
					ref.Hash, seq, buf[:n]); err != nil {
					return store.BlobRef{}, blobErr("commit", err)
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return store.BlobRef{}, fmt.Errorf("blob: spill: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return store.BlobRef{}, blobErr("commit", err)
	}
	return ref, nil
}

func (w *pgWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.mem = nil
	if w.f != nil {
		w.f.Close()
	}
}

// Open implements blob.Store.
func (b *PGBlobs) Open(ctx context.Context, h string) (blob.Reader, error) {
	if err := validHash(h); err != nil {
		return nil, err
	}
	r := &pgReader{b: b, hash: h, seq: -1}
	err := b.db.QueryRowContext(ctx, `SELECT size, chunk FROM blob_content WHERE hash = $1`, h).Scan(&r.size, &r.chunk)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("blob %s: %w", h, store.ErrNotFound)
	}
	if err != nil {
		return nil, blobErr("open", err)
	}
	return r, nil
}

// pgReader reads a blob chunk by chunk, keeping the last chunk read (reads
// are mostly sequential).
type pgReader struct {
	b     *PGBlobs
	hash  string
	size  int64
	chunk int

	mu   sync.Mutex
	seq  int // of data; -1 = none
	data []byte
	off  int64 // for Read
}

func (r *pgReader) Size() int64 { return r.size }

func (r *pgReader) Close() error {
	r.mu.Lock()
	r.data, r.seq = nil, -1
	r.mu.Unlock()
	return nil
}

func (r *pgReader) load(seq int) error {
	if seq == r.seq {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var data []byte
	err := r.b.db.QueryRowContext(ctx, `SELECT data FROM blob_chunks WHERE hash = $1 AND seq = $2`, r.hash, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("blob %s: chunk %d: %w", r.hash, seq, store.ErrNotFound)
	}
	if err != nil {
		return blobErr("read", err)
	}
	r.seq, r.data = seq, data
	return nil
}

func (r *pgReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob: negative offset")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		seq := int(pos / int64(r.chunk))
		if err := r.load(seq); err != nil {
			return n, err
		}
		in := int(pos - int64(seq)*int64(r.chunk))
		if in >= len(r.data) {
			return n, fmt.Errorf("blob %s: chunk %d shorter than recorded", r.hash, seq)
		}
		n += copy(p[n:], r.data[in:])
	}
	return n, nil
}

func (r *pgReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	off := r.off
	r.mu.Unlock()
	n, err := r.ReadAt(p, off)
	r.mu.Lock()
	r.off += int64(n)
	r.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Remove implements blob.Store.
func (b *PGBlobs) Remove(ctx context.Context, h string) error {
	if err := validHash(h); err != nil {
		return err
	}
	_, err := b.db.ExecContext(ctx, `DELETE FROM blob_content WHERE hash = $1`, h)
	return blobErr("remove", err)
}

// RemoveStale implements blob.Store. In one statement it checks that the
// content was not written recently and that no blobs row refers to it.
func (b *PGBlobs) RemoveStale(ctx context.Context, h string) (bool, error) {
	if err := validHash(h); err != nil {
		return false, err
	}
	var removed, exists bool
	err := b.db.QueryRowContext(ctx, `WITH d AS (
			DELETE FROM blob_content c WHERE c.hash = $1 AND c.written < now() - make_interval(secs => $2)
				AND NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.hash = c.hash)
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM blob_content WHERE hash = $1)`,
		h, b.minAge.Seconds()).Scan(&removed, &exists)
	if err != nil {
		return false, blobErr("remove", err)
	}
	return removed || !exists, nil
}

// sweep removes, in one statement, content that no blobs row refers to and
// that was not written recently (what SweepOrphans does with Walk).
func (b *PGBlobs) sweep(ctx context.Context) (int, error) {
	res, err := b.db.ExecContext(ctx, `DELETE FROM blob_content c WHERE c.written < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.hash = c.hash)`, b.minAge.Seconds())
	if err != nil {
		return 0, blobErr("sweep", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Walk implements blob.Store, a page of hashes at a time.
func (b *PGBlobs) Walk(ctx context.Context, fn func(hash string, size int64, modTime time.Time) error) error {
	type item struct {
		hash    string
		size    int64
		written time.Time
	}
	after := ""
	for {
		rows, err := b.db.QueryContext(ctx, `SELECT hash, size, written FROM blob_content WHERE hash > $1 ORDER BY hash LIMIT 500`, after)
		if err != nil {
			return blobErr("walk", err)
		}
		var page []item
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.hash, &it.size, &it.written); err != nil {
				rows.Close()
				return blobErr("walk", err)
			}
			page = append(page, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return blobErr("walk", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, it := range page {
			if err := fn(it.hash, it.size, it.written); err != nil {
				return err
			}
		}
		after = page[len(page)-1].hash
	}
}

// CheckSpace implements blob.Store. The database's disk is not ours to
// measure; a full disk shows as ErrNoSpace when writing.
func (b *PGBlobs) CheckSpace(need int64) error { return nil }

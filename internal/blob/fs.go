package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// FS stores blobs as files under Dir: Dir/ab/abcdef... (sharded by the first
// two hex digits of the hash), with temporary files in Dir/tmp.
type FS struct {
	Dir string
	// Reserve is the free space (bytes) kept back: CheckSpace fails below it.
	Reserve int64
	// MinAge is how recently written a blob must not be for RemoveStale
	// to delete it (default 10 minutes; wall clock, from the file's mtime).
	MinAge time.Duration
	// NoTmpfile writes blobs through named temporary files in Dir/tmp
	// renamed into place, instead of O_TMPFILE files linked into place.
	// Create sets it when the filesystem has no O_TMPFILE.
	NoTmpfile atomic.Bool
}

// NewFS creates the directories of a blob store at dir.
func NewFS(dir string, reserve int64) (*FS, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	s := &FS{Dir: dir, Reserve: reserve, MinAge: 10 * time.Minute}
	s.NoTmpfile.Store(!tmpfileUsable())
	return s, nil
}

func (s *FS) path(hash string) (string, error) {
	if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", fmt.Errorf("blob: invalid hash %q", hash)
	}
	return filepath.Join(s.Dir, hash[:2], hash), nil
}

// Create implements Store. On Linux a blob is written to an O_TMPFILE
// file, which has no name until Commit links it into place: creating one
// does not lock a shared temporary directory (concurrent SMTP sessions
// contended on Dir/tmp), and a crash leaves nothing behind. Elsewhere, or
// when the filesystem lacks O_TMPFILE or /proc, a named file in Dir/tmp is
// renamed into place.
func (s *FS) Create(ctx context.Context) (Writer, error) {
	tmp := filepath.Join(s.Dir, "tmp")
	if !s.NoTmpfile.Load() {
		f, err := openTmpfile(tmp)
		if err == nil {
			return &fsWriter{s: s, f: f, anon: true, h: sha256.New()}, nil
		}
		if !errors.Is(err, errNoTmpfile) {
			return nil, wrapSpace(fmt.Errorf("blob: create: %w", err))
		}
		s.NoTmpfile.Store(true)
	}
	f, err := os.CreateTemp(tmp, "in-")
	if err != nil {
		return nil, wrapSpace(fmt.Errorf("blob: create: %w", err))
	}
	return &fsWriter{s: s, f: f, h: sha256.New()}, nil
}

type fsWriter struct {
	s    *FS
	f    *os.File
	anon bool // an O_TMPFILE file: linked into place, not renamed
	h    hash.Hash
	n    int64
	done bool
}

func (w *fsWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, wrapSpace(fmt.Errorf("blob: write: %w", err))
	}
	return n, nil
}

func (w *fsWriter) Written() int64 { return w.n }

func (w *fsWriter) Commit(ctx context.Context) (store.BlobRef, error) {
	if w.done {
		return store.BlobRef{}, errors.New("blob: commit after commit or abort")
	}
	w.done = true
	tmp := w.f.Name()
	fail := func(err error) (store.BlobRef, error) {
		w.f.Close()
		if !w.anon {
			os.Remove(tmp)
		}
		return store.BlobRef{}, wrapSpace(err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(fmt.Errorf("blob: fsync: %w", err))
	}
	ref := store.BlobRef{Hash: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	final, _ := w.s.path(ref.Hash)
	dir := filepath.Dir(final)
	if err := ensureDir(dir); err != nil {
		return fail(err)
	}
	if w.anon {
		// Same content may already be stored: its mtime is refreshed, which
		// keeps it safe from RemoveStale while the caller records its new
		// reference.
		err := linkTmpfile(w.f, final)
		if errors.Is(err, fs.ErrExist) {
			now := time.Now()
			err = os.Chtimes(final, now, now)
		}
		if err != nil {
			return fail(fmt.Errorf("blob: link: %w", err))
		}
		if err := w.f.Close(); err != nil {
			return store.BlobRef{}, wrapSpace(fmt.Errorf("blob: close: %w", err))
		}
	} else {
		if err := w.f.Close(); err != nil {
			return fail(fmt.Errorf("blob: close: %w", err))
		}
		// Renaming over an existing copy gives it a fresh mtime (above).
		if err := os.Rename(tmp, final); err != nil {
			return fail(fmt.Errorf("blob: rename: %w", err))
		}
	}
	if err := syncDir(dir); err != nil {
		return store.BlobRef{}, wrapSpace(err)
	}
	return ref, nil
}

func (w *fsWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	if !w.anon {
		os.Remove(w.f.Name())
	}
}

// ensureDir creates a shard directory and makes its entry durable.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blob: mkdir: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: fsync dir: %w", err)
	}
	return nil
}

// Open implements Store.
func (s *FS) Open(ctx context.Context, hash string) (Reader, error) {
	p, err := s.path(hash)
	if err != nil {
		return nil, err
	}
	r, err := openFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", hash, store.ErrNotFound)
		}
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	return r, nil
}

// Remove implements Store.
func (s *FS) Remove(ctx context.Context, hash string) error {
	p, err := s.path(hash)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: remove: %w", err)
	}
	return nil
}

// RemoveStale implements Store.
func (s *FS) RemoveStale(ctx context.Context, hash string) (bool, error) {
	p, err := s.path(hash)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob: stat: %w", err)
	}
	if time.Since(fi.ModTime()) < s.MinAge {
		return false, nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("blob: remove: %w", err)
	}
	return true, nil
}

// Walk implements Store.
func (s *FS) Walk(ctx context.Context, fn func(hash string, size int64, modTime time.Time) error) error {
	shards, err := os.ReadDir(s.Dir)
	if err != nil {
		return fmt.Errorf("blob: walk: %w", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.Dir, sh.Name()))
		if err != nil {
			return fmt.Errorf("blob: walk: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := s.path(e.Name()); err != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(e.Name(), fi.Size(), fi.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// CleanTemp removes temporary files older than age (left by a crash).
func (s *FS) CleanTemp(age time.Duration) error {
	dir := filepath.Join(s.Dir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blob: clean: %w", err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// CheckSpace implements Store.
func (s *FS) CheckSpace(need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.Dir, &st); err != nil {
		return nil // cannot tell: let the write itself fail
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free-need < s.Reserve {
		return fmt.Errorf("%w: %d bytes free, %d needed, %d reserved", ErrNoSpace, free, need, s.Reserve)
	}
	return nil
}

func wrapSpace(err error) error {
	if err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) && !errors.Is(err, ErrNoSpace) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

var _ Reader = (*fdReader)(nil)

// Package blob stores message bodies, written once per message however many
// recipients it has, named by the SHA-256 of their content. A blob is durable
// when Commit returns: the file is fsynced, renamed into place, and its
// directory fsynced (DESIGN.md "Durability").
package blob

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// ErrNoSpace is returned (wrapped) when the disk is, or is about to be, full.
// SMTP answers 452 4.3.1, IMAP APPEND NO [LIMIT]... nothing accepted is lost.
var ErrNoSpace = errors.New("blob: not enough disk space")

// Store keeps blobs.
type Store interface {
	// Create starts a new blob. The caller writes the content, then Commit
	// or Abort; an uncommitted blob never becomes visible.
	Create(ctx context.Context) (Writer, error)
	// Open opens a committed blob.
	Open(ctx context.Context, hash string) (Reader, error)
	// Remove deletes a blob (the store calls it when no message refers to it).
	Remove(ctx context.Context, hash string) error
	// RemoveStale deletes a blob only if it was not (re)written recently,
	// so that a delivery racing with garbage collection keeps its blob.
	RemoveStale(ctx context.Context, hash string) (removed bool, err error)
	// Walk calls fn for every committed blob (backup, verify, garbage collection).
	Walk(ctx context.Context, fn func(hash string, size int64, modTime time.Time) error) error
	// CheckSpace fails with ErrNoSpace when writing need more bytes would
	// leave less than the configured reserve free.
	CheckSpace(need int64) error
}

// Writer receives a new blob's content.
type Writer interface {
	io.Writer
	// Written is the number of bytes written so far.
	Written() int64
	// Commit makes the blob durable and returns its reference.
	Commit(ctx context.Context) (store.BlobRef, error)
	// Abort discards the blob. It is safe to call after Commit (no-op).
	Abort()
}

// Reader reads a committed blob.
type Reader interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Size() int64
}

// IsNoSpace reports whether err means the disk is full.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

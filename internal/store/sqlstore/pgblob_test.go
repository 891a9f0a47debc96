package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

func TestPGBlobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), newFakeClock(), Options{})
	b := newPGBlobs(s.db, 0)
	b.chunk, b.spillAt = 7, 10 // several chunks, and a spill to a file
	put := func(content string) store.BlobRef {
		t.Helper()
		w, err := b.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.SplitAfter(content, " ") {
			io.WriteString(w, part)
		}
		if w.Written() != int64(len(content)) {
			t.Fatalf("Written = %d", w.Written())
		}
		ref, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	content := "hello world, this is a blob in several chunks\r\n"
	ref := put(content)
	if again := put(content); again != ref {
		t.Fatalf("same content, different ref: %v %v", again, ref)
	}
	if ref.Size != int64(len(content)) {
		t.Fatalf("ref = %+v", ref)
	}
	r, err := b.Open(ctx, ref.Hash)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(r)
	if err != nil || string(all) != content || r.Size() != ref.Size {
		t.Fatalf("ReadAll = %q, %v", all, err)
	}
	buf := make([]byte, 12)
	if n, err := r.ReadAt(buf, 6); err != nil || string(buf[:n]) != "world, this " {
		t.Fatalf("ReadAt = %q, %v", buf[:n], err)
	}
	if n, err := r.ReadAt(buf, ref.Size-3); err != io.EOF || string(buf[:n]) != "s\r\n" {
		t.Fatalf("ReadAt at the end = %q, %v", buf[:n], err)
	}
	r.Close()
	// The empty blob has no chunks.
	empty := put("")
	if r, err := b.Open(ctx, empty.Hash); err != nil {
		t.Fatal(err)
	} else if data, err := io.ReadAll(r); err != nil || len(data) != 0 {
		t.Fatalf("empty blob = %q, %v", data, err)
	}
	// Aborted blobs leave nothing.
	w, _ := b.Create(ctx)
	io.WriteString(w, strings.Repeat("x", 100))
	w.Abort()
	w.Abort()
	var seen []string
	if err := b.Walk(ctx, func(h string, size int64, _ time.Time) error { seen = append(seen, h); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("Walk = %v", seen)
	}
	// A blob a message refers to is not stale; an unreferenced one is.
	s.AddDomain(ctx, "example.test")
	a, _ := s.CreateAccount(ctx, "u@example.test", "h")
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	if _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref}); err != nil {
		t.Fatal(err)
	}
	if removed, err := b.RemoveStale(ctx, ref.Hash); err != nil || removed {
		t.Fatalf("RemoveStale of a referenced blob = %v, %v", removed, err)
	}
	if removed, err := b.RemoveStale(ctx, empty.Hash); err != nil || !removed {
		t.Fatalf("RemoveStale of an unreferenced blob = %v, %v", removed, err)
	}
	b.minAge = time.Hour
	if err := b.Remove(ctx, ref.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, ref.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open removed = %v", err)
	}
	young := put("young")
	if removed, err := b.RemoveStale(ctx, young.Hash); err != nil || removed {
		t.Fatalf("RemoveStale of a young blob = %v, %v", removed, err)
	}
	if _, err := b.Open(ctx, "../../etc/passwd"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open of a bad hash = %v", err)
	}
}

// Content too large for one chunk, read through the store as a message.
func TestPGBlobsLargeMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), newFakeClock(), Options{})
	s.AddDomain(ctx, "example.test")
	a, _ := s.CreateAccount(ctx, "u@example.test", "h")
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	body := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: 3 chunks, spilled
	ref := storetest.PutBlob(t, s.Blobs(), storetest.Msg("big", string(body)))
	if _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref, Prefix: []byte("Delivered-To: u@example.test\r\n")}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{})
	c, err := s.OpenMessage(ctx, &msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, err := io.ReadAll(c)
	if err != nil || int64(len(data)) != msgs[0].Size || !bytes.Contains(data, body) ||
		!bytes.HasPrefix(data, []byte("Delivered-To: u@example.test\r\nFrom: ")) {
		t.Fatalf("read %d bytes of %d, %v", len(data), msgs[0].Size, err)
	}
}

// Collection of unreferenced content, as TestBlobCollection for files.
func TestPGBlobCollection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fc := newFakeClock()
	s := openPG(t, pgtest.NewDatabase(t), fc, Options{BlobGrace: time.Millisecond})
	s.AddDomain(ctx, "example.test")
	a, _ := s.CreateAccount(ctx, "u@example.test", "h")
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	ref := storetest.PutBlob(t, s.Blobs(), storetest.Msg("gc", "collect me"))
	if _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref}); err != nil {
		t.Fatal(err)
	}
	exists := func(h string) bool {
		r, err := s.Blobs().Open(ctx, h)
		if err == nil {
			r.Close()
		}
		return err == nil
	}
	s.DeleteMessages(ctx, inbox.ID, []uint32{1})
	s.collectBlobs(ctx)
	if !exists(ref.Hash) {
		t.Fatal("content removed before the grace period")
	}
	fc.Advance(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for exists(ref.Hash) && time.Now().Before(deadline) {
		s.collectBlobs(ctx)
	}
	if exists(ref.Hash) {
		t.Fatal("unreferenced content not collected")
	}
	orphan := storetest.PutBlob(t, s.Blobs(), "orphan\r\n")
	for n := 0; n == 0 && time.Now().Before(deadline); {
		var err error
		if n, err = s.SweepOrphans(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if exists(orphan.Hash) {
		t.Fatal("orphan not swept")
	}
}

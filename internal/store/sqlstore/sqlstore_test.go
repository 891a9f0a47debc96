package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
)

func openTest(t *testing.T) (storetest.Env, *Store) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	blobs.MinAge = 0
	fc := clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	s, err := Open(context.Background(), Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return storetest.Env{Store: s, Blobs: blobs, Clock: fc}, s
}

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Env {
		e, _ := openTest(t)
		return e
	})
}

func TestBlobCollection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, s := openTest(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddDomain(ctx, "example.test"))
	a, err := s.CreateAccount(ctx, "u@example.test", "h")
	must(err)
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	content := storetest.Msg("gc", "collect me")
	ref := storetest.PutBlob(t, e.Blobs, content)
	_, err = s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref})
	must(err)
	_, err = s.DeleteMessages(ctx, inbox.ID, []uint32{1})
	must(err)
	exists := func() bool {
		r, err := e.Blobs.Open(ctx, ref.Hash)
		if err == nil {
			r.Close()
		}
		return err == nil
	}
	s.collectBlobs(ctx)
	if !exists() {
		t.Fatal("blob removed before the grace period")
	}
	e.Clock.Advance(11 * time.Minute)
	s.collectBlobs(ctx)
	if exists() {
		t.Fatal("unreferenced blob not collected after the grace period")
	}

	// An orphan (a blob written by a delivery that never committed) is swept.
	orphan := storetest.PutBlob(t, e.Blobs, "orphan\r\n")
	if n, err := s.SweepOrphans(ctx); err != nil || n != 1 {
		t.Fatalf("SweepOrphans = %d, %v", n, err)
	}
	if r, err := e.Blobs.Open(ctx, orphan.Hash); err == nil {
		r.Close()
		t.Fatal("orphan not swept")
	}

	// A blob referenced again before collection survives.
	ref = storetest.PutBlob(t, e.Blobs, content)
	_, err = s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref})
	must(err)
	_, err = s.DeleteMessages(ctx, inbox.ID, []uint32{2})
	must(err)
	ref = storetest.PutBlob(t, e.Blobs, content)
	_, err = s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref})
	must(err)
	e.Clock.Advance(time.Hour)
	s.collectBlobs(ctx)
	if !exists() {
		t.Fatal("referenced blob collected")
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, _ := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	path := filepath.Join(dir, "k.db")
	s, err := Open(ctx, Options{Path: path, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	s.AddDomain(ctx, "example.test")
	a, _ := s.CreateAccount(ctx, "u@example.test", "h")
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	for range 3 {
		if _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: storetest.PutBlob(t, blobs, storetest.Msg("x", "y"))}); err != nil {
			t.Fatal(err)
		}
	}
	s.DeleteMessages(ctx, inbox.ID, []uint32{3})
	s.Close()
	if err := s.AddDomain(ctx, "late.test"); err == nil {
		t.Fatal("write after Close succeeded")
	}
	s2, err := Open(ctx, Options{Path: path, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	mb, err := s2.Mailbox(ctx, a.ID, "inbox")
	if err != nil || mb.UIDNext != 4 || mb.UIDValidity != inbox.UIDValidity {
		t.Fatalf("after reopen: %+v, %v", mb, err)
	}
	ap, _ := s2.Append(ctx, mb.ID, store.NewMessage{Blob: storetest.PutBlob(t, blobs, storetest.Msg("z", "z"))})
	if ap.UID != 4 {
		t.Fatalf("UID after reopen = %d, want 4", ap.UID)
	}
}

// A failing write shares a commit with successful ones without spoiling them.
func TestGroupCommitIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, s := openTest(t)
	s.AddDomain(ctx, "example.test")
	a, _ := s.CreateAccount(ctx, "u@example.test", "h")
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	ref := storetest.PutBlob(t, e.Blobs, storetest.Msg("iso", "x"))
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			mb := inbox.ID
			if i%4 == 0 {
				mb = 999999 // no such mailbox: fails inside the batch
			}
			_, err := s.Append(ctx, mb, store.NewMessage{Blob: ref})
			if (err != nil) != (i%4 == 0) {
				errs <- fmt.Errorf("append %d: err = %v", i, err)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	st, _ := s.MailboxStatus(ctx, inbox.ID)
	if st.Messages != n-n/4 {
		t.Fatalf("messages = %d, want %d", st.Messages, n-n/4)
	}
	var refs int
	s.DB().QueryRow(`SELECT refs FROM blobs WHERE hash = $1`, ref.Hash).Scan(&refs)
	if refs != n-n/4 {
		t.Fatalf("blob refs = %d, want %d", refs, n-n/4)
	}
}

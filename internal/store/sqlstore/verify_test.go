package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

func TestVerifyAndRepair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, s := openTest(t)
	fs := e.Blobs.(*blob.FS)
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
	var refs []store.BlobRef
	for i, subj := range []string{"refs", "missing", "corrupt", "fine"} {
		content := storetest.Msg(subj, strings.Repeat("body ", i+1))
		ref := storetest.PutBlob(t, e.Blobs, content)
		_, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref, Meta: &store.MessageMeta{Subject: subj, MessageID: "<" + subj + "@x>"}})
		must(err)
		refs = append(refs, ref)
	}
	// A queue entry shares the "fine" blob.
	_, err = s.Deliver(ctx, &store.Delivery{Blob: refs[3], Remote: &store.Outbound{From: "u@example.test",
		Rcpts: []store.OutRcpt{{Addr: "x@remote.test"}}}})
	must(err)

	r, err := s.Verify(ctx, VerifyOptions{})
	must(err)
	if !r.OK() || r.Blobs != 4 || r.Messages != 4 || r.QueueEntries != 1 || r.Files != 4 {
		t.Fatalf("clean store: %+v", r)
	}

	// Damage: a wrong reference count, a missing file, a flipped byte, an
	// orphan file (old), a recent unreferenced file, a UIDNEXT below a UID
	// and wrong used bytes.
	must(s.write(ctx, func(t *wtx) error {
		_, err := t.Exec(`UPDATE blobs SET refs = 5 WHERE hash = $1`, refs[0].Hash)
		return err
	}))
	must(os.Remove(filepath.Join(fs.Dir, refs[1].Hash[:2], refs[1].Hash)))
	corrupt := filepath.Join(fs.Dir, refs[2].Hash[:2], refs[2].Hash)
	b, _ := os.ReadFile(corrupt)
	b[10] ^= 1
	must(os.WriteFile(corrupt, b, 0o600))
	orphan := storetest.PutBlob(t, e.Blobs, "orphan content\r\n")
	old := time.Now().Add(-time.Hour)
	must(os.Chtimes(filepath.Join(fs.Dir, orphan.Hash[:2], orphan.Hash), old, old))
	storetest.PutBlob(t, e.Blobs, "a delivery in progress\r\n")
	must(s.write(ctx, func(t *wtx) error {
		if _, err := t.Exec(`UPDATE mailboxes SET uidnext = 3 WHERE id = $1`, inbox.ID); err != nil {
			return err
		}
		_, err := t.Exec(`UPDATE accounts SET used_bytes = 1 WHERE id = $1`, a.ID)
		return err
	}))

	r, err = s.Verify(ctx, VerifyOptions{})
	must(err)
	if len(r.WrongRefs) != 1 || r.WrongRefs[0].Hash != refs[0].Hash || r.WrongRefs[0].Stored != 5 || r.WrongRefs[0].Real != 1 {
		t.Errorf("wrong refs: %+v", r.WrongRefs)
	}
	if len(r.Missing) != 1 || r.Missing[0].Hash != refs[1].Hash {
		t.Errorf("missing: %+v", r.Missing)
	}
	if len(r.Corrupt) != 1 || r.Corrupt[0].Hash != refs[2].Hash {
		t.Errorf("corrupt: %+v", r.Corrupt)
	}
	if len(r.Orphans) != 1 || r.Orphans[0].Hash != orphan.Hash || r.RecentUnreferenced != 1 {
		t.Errorf("orphans: %+v, recent %d", r.Orphans, r.RecentUnreferenced)
	}
	if len(r.UIDs) != 2 { // UIDs 3 and 4 are not below UIDNEXT 3
		t.Errorf("uid problems: %q", r.UIDs)
	}
	if len(r.Sizes) != 1 || !strings.Contains(r.Sizes[0], "used bytes 1") {
		t.Errorf("size problems: %q", r.Sizes)
	}
	if len(r.Lost) != 2 || r.Lost[0].UID == 0 || !strings.Contains(r.Lost[0].String()+r.Lost[1].String(), "missing@x") {
		t.Errorf("lost: %v", r.Lost)
	}
	if !r.Unrepairable() {
		t.Error("missing and corrupt blobs must be unrepairable")
	}
	// Verify changed nothing.
	if _, err := os.Stat(filepath.Join(fs.Dir, orphan.Hash[:2], orphan.Hash)); err != nil {
		t.Fatal("verify without repair removed an orphan")
	}

	r, err = s.Verify(ctx, VerifyOptions{Repair: true})
	must(err)
	if len(r.Repaired) != 4 {
		t.Errorf("repaired: %q", r.Repaired)
	}
	if _, err := os.Stat(filepath.Join(fs.Dir, orphan.Hash[:2], orphan.Hash)); err == nil {
		t.Error("orphan not removed")
	}
	r, err = s.Verify(ctx, VerifyOptions{})
	must(err)
	if len(r.WrongRefs)+len(r.UIDs)+len(r.Sizes)+len(r.Orphans) != 0 || len(r.Missing) != 1 || len(r.Corrupt) != 1 {
		t.Errorf("after repair: %+v", r)
	}
	mb, _ := s.MailboxByID(ctx, inbox.ID)
	if mb.UIDNext != 5 || mb.UIDValidity != inbox.UIDValidity {
		t.Errorf("mailbox after repair: %+v", mb)
	}
}

func TestSnapshotWhileWriting(t *testing.T) {
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
	ref := storetest.PutBlob(t, e.Blobs, storetest.Msg("s", "snap"))
	stop := make(chan struct{})
	done := make(chan int)
	var appended atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				done <- int(appended.Load())
				return
			default:
			}
			if _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref}); err != nil {
				t.Error(err)
			}
			appended.Add(1)
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "some appends", func() bool { return appended.Load() >= 20 })
	dst := filepath.Join(t.TempDir(), "copy.db")
	var seq int
	var name, path string
	must(s.db.QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &path))
	must(Snapshot(ctx, path, dst))
	close(stop)
	total := <-done
	info, err := ReadSnapshot(ctx, dst, true)
	must(err)
	if info.Counts.Messages == 0 || info.Counts.Messages > total || len(info.Blobs) != 1 || info.Blobs[0] != ref || info.Dangling != 0 {
		t.Fatalf("snapshot: %+v (appended %d)", info, total)
	}
	if _, err := os.Stat(dst + "-wal"); err == nil {
		t.Error("snapshot left a -wal file")
	}
}

package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
)

var ctx = context.Background()

type fixture struct {
	dir   string
	st    *sqlstore.Store
	blobs *blob.FS
	inbox store.Mailbox
	acct  store.Account
}

func openStore(t *testing.T, dir string) (*sqlstore.Store, *blob.FS) {
	t.Helper()
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, blobs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.st, f.blobs = openStore(t, f.dir)
	must(t, f.st.AddDomain(ctx, "example.test"))
	var err error
	f.acct, err = f.st.CreateAccount(ctx, "u@example.test", "hash")
	must(t, err)
	f.inbox, err = f.st.Mailbox(ctx, f.acct.ID, "INBOX")
	must(t, err)
	must(t, f.st.AddDKIMKey(ctx, store.DKIMKey{Domain: "example.test", Selector: "s1", Algorithm: "ed25519",
		PrivateKeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nfake\n-----END PRIVATE KEY-----\n"), Created: time.Unix(1700000000, 0)}))
	must(t, os.MkdirAll(filepath.Join(f.dir, "tls"), 0o700))
	must(t, os.WriteFile(filepath.Join(f.dir, "tls", "selfsigned.crt"), []byte("cert"), 0o600))
	return f
}

func (f *fixture) add(t *testing.T, n int, tag string) {
	t.Helper()
	for i := range n {
		ref := storetest.PutBlob(t, f.blobs, storetest.Msg(fmt.Sprintf("%s %d", tag, i), strings.Repeat(tag, 100+i)))
		_, err := f.st.Append(ctx, f.inbox.ID, store.NewMessage{Blob: ref, Flags: []string{store.FlagSeen, "$" + tag}})
		must(t, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackupVerifyRestoreIncremental(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.add(t, 5, "one")
	_, err := f.st.Deliver(ctx, &store.Delivery{Blob: storetest.PutBlob(t, f.blobs, storetest.Msg("queued", "out")),
		Remote: &store.Outbound{From: "u@example.test", Rcpts: []store.OutRcpt{{Addr: "x@remote.test", Notify: "FAILURE"}}}})
	must(t, err)
	bdir := filepath.Join(t.TempDir(), "backup")
	clock := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }

	r1, err := Run(ctx, Options{DataDir: f.dir, Dir: bdir, Version: "test", Now: now})
	must(t, err)
	if r1.Copied != 6 || r1.Present != 0 || len(r1.Manifest.Blobs) != 6 || r1.Manifest.Counts.Messages != 5 || r1.Manifest.Counts.Queue != 1 {
		t.Fatalf("first run: %+v %+v", r1, r1.Manifest)
	}
	if len(r1.Manifest.Files) != 1 || r1.Manifest.Files[0].RestoreTo != "tls/selfsigned.crt" {
		t.Fatalf("files: %+v", r1.Manifest.Files)
	}
	v, err := Verify(ctx, bdir, VerifyOptions{})
	must(t, err)
	if len(v.Problems) != 0 || v.Blobs != 6 {
		t.Fatalf("verify: %+v", v)
	}

	// Incremental: only the new blobs are copied.
	f.add(t, 3, "two")
	clock = clock.Add(time.Hour)
	r2, err := Run(ctx, Options{DataDir: f.dir, Dir: bdir, Version: "test", Now: now})
	must(t, err)
	if r2.Copied != 3 || r2.Present != 6 || r2.Manifest.NewBlobs != 3 || r2.Manifest.Previous != r1.Manifest.Generation {
		t.Fatalf("incremental run: copied %d present %d manifest %+v", r2.Copied, r2.Present, r2.Manifest)
	}
	gens, _ := Generations(bdir)
	if len(gens) != 2 {
		t.Fatalf("generations: %v", gens)
	}
	v, err = Verify(ctx, bdir, VerifyOptions{All: true})
	must(t, err)
	if len(v.Problems) != 0 || v.Blobs != 9 {
		t.Fatalf("verify all: %+v", v)
	}

	// Restore the latest into a new directory and compare.
	ndir := filepath.Join(t.TempDir(), "restored")
	rr, err := Restore(ctx, RestoreOptions{Dir: bdir, DataDir: ndir})
	must(t, err)
	if rr.Blobs != 9 || len(rr.Files) != 1 {
		t.Fatalf("restore: %+v", rr)
	}
	if _, err := Restore(ctx, RestoreOptions{Dir: bdir, DataDir: ndir}); err == nil {
		t.Fatal("restore into a non-empty directory without -force succeeded")
	}
	f.st.Close()
	st2, _ := openStore(t, ndir)
	compareStores(t, f.dir, st2)
	if r, err := st2.Verify(ctx, sqlstore.VerifyOptions{}); err != nil || !r.OK() {
		t.Fatalf("verify of the restored data: %v %+v", err, r)
	}
	if b, err := os.ReadFile(filepath.Join(ndir, "tls", "selfsigned.crt")); err != nil || string(b) != "cert" {
		t.Fatalf("tls file: %q %v", b, err)
	}

	// Keep 1: the older generation goes, with no blob lost (all are still used).
	clock = clock.Add(time.Hour)
	r3, err := Run(ctx, Options{DataDir: f.dir, Dir: bdir, Version: "test", Now: now, Keep: 1})
	must(t, err)
	if r3.Copied != 0 || len(r3.Pruned) != 2 || r3.PrunedBlobs != 0 {
		t.Fatalf("pruning run: %+v", r3)
	}
}

// compareStores checks that a restored store holds exactly what the
// original data directory holds.
func compareStores(t *testing.T, origDir string, restored *sqlstore.Store) {
	t.Helper()
	orig, _ := openStore(t, origDir)
	defer orig.Close()
	accts, err := orig.Accounts(ctx, "")
	must(t, err)
	accts2, err := restored.Accounts(ctx, "")
	must(t, err)
	if !reflect.DeepEqual(accts, accts2) {
		t.Fatalf("accounts differ:\n%+v\n%+v", accts, accts2)
	}
	for _, a := range accts {
		mbs, _ := orig.Mailboxes(ctx, a.ID)
		mbs2, _ := restored.Mailboxes(ctx, a.ID)
		if !reflect.DeepEqual(mbs, mbs2) {
			t.Fatalf("mailboxes differ:\n%+v\n%+v", mbs, mbs2)
		}
		for _, mb := range mbs {
			m1, _ := orig.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{Meta: true})
			m2, _ := restored.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{Meta: true})
			if !reflect.DeepEqual(m1, m2) {
				t.Fatalf("messages of %s differ", mb.Name)
			}
		}
	}
	k1, _ := orig.DKIMKeys(ctx, "example.test")
	k2, _ := restored.DKIMKeys(ctx, "example.test")
	if len(k1) == 0 || !reflect.DeepEqual(k1, k2) {
		t.Fatalf("DKIM keys differ: %+v %+v", k1, k2)
	}
	q1, _ := orig.QueueEntries(ctx, store.QueueFilter{})
	q2, _ := restored.QueueEntries(ctx, store.QueueFilter{})
	if !reflect.DeepEqual(q1, q2) {
		t.Fatalf("queue differs: %+v %+v", q1, q2)
	}
}

func TestVerifyDetectsDamage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.add(t, 4, "x")
	bdir := t.TempDir()
	r, err := Run(ctx, Options{DataDir: f.dir, Dir: bdir})
	must(t, err)
	b0, b1 := r.Manifest.Blobs[0].SHA256, r.Manifest.Blobs[1].SHA256
	p := blobPath(bdir, b0)
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 0x20
	must(t, os.WriteFile(p, data, 0o600))
	must(t, os.Remove(blobPath(bdir, b1)))
	v, err := Verify(ctx, bdir, VerifyOptions{})
	must(t, err)
	joined := strings.Join(v.Problems, "\n")
	if len(v.Problems) != 2 || !strings.Contains(joined, b0+": damaged") || !strings.Contains(joined, b1+": open") {
		t.Fatalf("problems: %q", v.Problems)
	}
	// Quick mode sees the missing blob but not the flipped byte.
	v, _ = Verify(ctx, bdir, VerifyOptions{Quick: true})
	if len(v.Problems) != 1 {
		t.Fatalf("quick problems: %q", v.Problems)
	}
	// A damaged database copy.
	db := filepath.Join(bdir, gensDir, r.Manifest.Generation, dbFile)
	data, _ = os.ReadFile(db)
	data[len(data)-100] ^= 1
	must(t, os.WriteFile(db, data, 0o600))
	v, _ = Verify(ctx, bdir, VerifyOptions{})
	if !strings.Contains(strings.Join(v.Problems, "\n"), "kantorpos.db: checksum mismatch") {
		t.Fatalf("problems: %q", v.Problems)
	}
	// Restore refuses the damaged backup before writing a database.
	ndir := t.TempDir()
	if _, err := Restore(ctx, RestoreOptions{Dir: bdir, DataDir: ndir}); err == nil {
		t.Fatal("restore of a damaged backup succeeded")
	}
	if _, err := os.Stat(filepath.Join(ndir, dbFile)); err == nil {
		t.Fatal("a failed restore left a database")
	}
}

// TestBlobCollectedAfterSnapshot: a message removed after the snapshot
// whose blob garbage collection removed before the copy: the backup takes
// a new snapshot.
func TestBlobCollectedAfterSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.add(t, 3, "gc")
	msgs, _ := f.st.FetchMessages(ctx, f.inbox.ID, store.AllUIDs, store.FetchOptions{})
	victim := msgs[1]
	o := Options{DataDir: f.dir, Dir: t.TempDir()}
	o.afterSnapshot = func(round int) {
		if round != 1 {
			return
		}
		_, err := f.st.DeleteMessages(ctx, f.inbox.ID, []uint32{victim.UID})
		must(t, err)
		must(t, f.blobs.Remove(ctx, victim.Blob.Hash)) // as the collector would, 10 minutes later
	}
	r, err := Run(ctx, o)
	must(t, err)
	if r.Manifest.Rounds != 2 || len(r.Manifest.Missing) != 0 || len(r.Manifest.Blobs) != 2 || r.Manifest.Counts.Messages != 2 {
		t.Fatalf("manifest: %+v", r.Manifest)
	}
}

// TestBlobLostInLiveData: a blob missing while its message still exists is
// reported, and the backup still completes with everything else.
func TestBlobLostInLiveData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.add(t, 3, "lost")
	msgs, _ := f.st.FetchMessages(ctx, f.inbox.ID, store.AllUIDs, store.FetchOptions{})
	must(t, f.blobs.Remove(ctx, msgs[0].Blob.Hash))
	bdir := t.TempDir()
	r, err := Run(ctx, Options{DataDir: f.dir, Dir: bdir})
	if err == nil || r == nil {
		t.Fatalf("run: %v", err)
	}
	if len(r.Manifest.Missing) != 1 || !strings.Contains(r.Manifest.Missing[0].Reason, "lost mail") || r.Manifest.Rounds != 1 {
		t.Fatalf("manifest: %+v", r.Manifest)
	}
	v, err := Verify(ctx, bdir, VerifyOptions{})
	must(t, err)
	if len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "was not backed up") {
		t.Fatalf("verify: %q", v.Problems)
	}
}

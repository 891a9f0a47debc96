package imappull

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/mailio"
	"github.com/kantorpos/kantorpos/internal/mailio/dovecottest"
	"github.com/kantorpos/kantorpos/internal/mailio/mailiotest"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// localName maps Dovecot's folders to ours: "Sent Items" is \Sent, so it
// lands in our Sent.
func localFor(f dovecottest.Folder) string {
	if f.SpecialUse == store.SpecialSent {
		return "Sent"
	}
	return f.Name
}

// TestPullInterruptedAndResumed pulls from a real Dovecot, interrupts the
// pull after 7 messages as a crash would (the state on disk is older than
// the last append), resumes, and checks that nothing is missing or
// duplicated. Then a changed UIDVALIDITY falls back to Message-ID + size.
func TestPullInterruptedAndResumed(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	dv.Fill(t)
	want := dv.Contents(t)
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, "alice@example.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	opts := func(im *mailio.Importer) Options {
		return Options{Addr: dv.Addr, Security: "none", User: dv.User, Password: dv.Password,
			StateDir: filepath.Join(dir, "import"), Importer: im, SaveEvery: 2}
	}
	statePath := StatePath(filepath.Join(dir, "import"), dv.Addr, dv.User, acct.Address)

	// Run 1: interrupted after the 5th message (the last of INBOX); the
	// state is saved every 2 messages and we throw away the saves made
	// after the 4th, as if the process had been killed.
	cctx, cancel := context.WithCancel(ctx)
	var saved []byte
	im := &mailio.Importer{Store: st, Blobs: blobs, Account: acct}
	im.OnAdded = func(n int) {
		if n == 5 {
			saved, _ = os.ReadFile(statePath) // the state after message 4
			cancel()
		}
	}
	err = Pull(cctx, opts(im))
	if err == nil || im.Summary.Messages != 5 {
		t.Fatalf("interrupted pull: %v, %s", err, im.Summary.String())
	}
	if err := os.WriteFile(statePath, saved, 0o600); err != nil {
		t.Fatal(err)
	}

	// Run 2: resume.
	im2 := &mailio.Importer{Store: st, Blobs: blobs, Account: acct}
	if err := Pull(ctx, opts(im2)); err != nil {
		t.Fatal(err)
	}
	if im2.Summary.Messages != 9 || im2.Summary.Duplicates != 1 {
		t.Fatalf("resumed pull: %s (want 9 new and 1 duplicate: the 5th, imported but not recorded)", im2.Summary.String())
	}
	if n := mailiotest.Compare(t, st, acct.ID, want, localFor); n != 14 {
		t.Fatalf("compared %d messages", n)
	}

	// Run 3: nothing new.
	im3 := &mailio.Importer{Store: st, Blobs: blobs, Account: acct}
	if err := Pull(ctx, opts(im3)); err != nil || im3.Summary.Messages != 0 || im3.Summary.Duplicates != 0 {
		t.Fatalf("third pull: %v %s", err, im3.Summary.String())
	}

	// Run 4: every folder's UIDVALIDITY "changed": matched by Message-ID
	// and size, no body downloaded again, nothing added.
	var s State
	b, _ := os.ReadFile(statePath)
	json.Unmarshal(b, &s)
	for _, f := range s.Folders {
		f.UIDValidity++
	}
	b, _ = json.Marshal(s)
	os.WriteFile(statePath, b, 0o600)
	im4 := &mailio.Importer{Store: st, Blobs: blobs, Account: acct}
	if err := Pull(ctx, opts(im4)); err != nil || im4.Summary.Messages != 0 || im4.Summary.Duplicates != 14 {
		t.Fatalf("pull after UIDVALIDITY change: %v %s", err, im4.Summary.String())
	}
	if n := mailiotest.Compare(t, st, acct.ID, want, localFor); n != 14 {
		t.Fatalf("compared %d messages", n)
	}
}

// TestPullTLS pulls over implicit TLS and over STARTTLS, verifying
// Dovecot's certificate, into two accounts.
func TestPullTLS(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	dv.Fill(t)
	want := dv.Contents(t)
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.AddDomain(ctx, "example.test")
	for _, c := range []struct{ security, addr, account string }{
		{"tls", dv.TLSAddr, "tls@example.test"},
		{"starttls", dv.Addr, "starttls@example.test"},
	} {
		acct, err := st.CreateAccount(ctx, c.account, "h")
		if err != nil {
			t.Fatal(err)
		}
		im := &mailio.Importer{Store: st, Blobs: blobs, Account: acct}
		err = Pull(ctx, Options{Addr: c.addr, Security: c.security, TLSConfig: dv.ClientTLS, User: dv.User, Password: dv.Password,
			StateDir: filepath.Join(dir, "import"), Importer: im})
		if err != nil || im.Summary.Messages != 14 {
			t.Fatalf("%s: %v %s", c.security, err, im.Summary.String())
		}
		if n := mailiotest.Compare(t, st, acct.ID, want, localFor); n != 14 {
			t.Fatalf("%s: compared %d messages", c.security, n)
		}
	}
	// A certificate we do not trust is refused.
	acct, _ := st.CreateAccount(ctx, "untrusted@example.test", "h")
	err = Pull(ctx, Options{Addr: dv.TLSAddr, Security: "tls", User: dv.User, Password: dv.Password,
		StateDir: filepath.Join(dir, "import"), Importer: &mailio.Importer{Store: st, Blobs: blobs, Account: acct}})
	if err == nil {
		t.Fatal("pull accepted an untrusted certificate")
	}
}

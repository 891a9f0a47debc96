package mailio

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/mailio/mbox"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
)

var ctx = context.Background()

type env struct {
	st    *sqlstore.Store
	blobs *blob.FS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	return &env{st: st, blobs: blobs}
}

func (e *env) account(t *testing.T, addr string) store.Account {
	t.Helper()
	a, err := e.st.CreateAccount(ctx, addr, "hash")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) importer(a store.Account) *Importer {
	return &Importer{Store: e.st, Blobs: e.blobs, Account: a}
}

// fill gives an account messages in INBOX, Work/Sub and Entwürfe, with
// flags, keywords, a per-recipient prefix and lines starting with "From ".
func (e *env) fill(t *testing.T, a store.Account) {
	t.Helper()
	im := e.importer(a)
	date := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	for i, c := range []struct {
		folder string
		flags  []string
	}{
		{"INBOX", []string{store.FlagSeen}},
		{"INBOX", nil},
		{"INBOX", []string{store.FlagFlagged, store.FlagAnswered, "$Label1", "work"}},
		{"Work/Sub", []string{store.FlagDraft, store.FlagDeleted, "$Forwarded"}},
		{"Entwürfe", []string{store.FlagSeen, "urgent"}},
		{"Sent", []string{store.FlagSeen}},
	} {
		f, err := im.Folder(ctx, c.folder, FolderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("From: a@example.test\r\nSubject: m%d\r\nMessage-ID: <m%d@example.test>\r\n\r\nline\r\nFrom the start\r\n>From quoted\r\n", i, i)
		if _, err := f.Add(ctx, []byte(body), c.flags, date.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// A delivered message with a per-recipient prefix.
	ref := storetest.PutBlob(t, e.blobs, "Subject: delivered\r\n\r\nhello\r\n")
	_, err := e.st.Deliver(ctx, &store.Delivery{Blob: ref, ReceivedAt: date, Local: []store.LocalDelivery{{AccountID: a.ID,
		Prefix: []byte("Return-Path: <sender@remote.test>\r\nDelivered-To: " + a.Address + "\r\n")}}})
	if err != nil {
		t.Fatal(err)
	}
}

type msgView struct {
	Folder  string
	Content string
	Flags   []string
	Date    time.Time
}

// snapshot lists an account's messages as clients see them.
func (e *env) snapshot(t *testing.T, a store.Account) []msgView {
	t.Helper()
	mbs, err := e.st.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []msgView
	for _, mb := range mbs {
		msgs, err := e.st.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			c, err := e.st.OpenMessage(ctx, &msgs[i])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(c)
			c.Close()
			flags := append([]string(nil), msgs[i].Flags...)
			sort.Strings(flags)
			out = append(out, msgView{mb.Name, string(b), flags, msgs[i].InternalDate.UTC()})
		}
	}
	return out
}

func TestMaildirRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.account(t, "src@example.test")
	e.fill(t, src)
	dir := filepath.Join(t.TempDir(), "Maildir")
	ex := &Exporter{Store: e.st, Account: src}
	if err := ex.ExportMaildir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if ex.Summary.Messages != 7 || ex.Summary.Errors != 0 {
		t.Fatalf("export: %s", ex.Summary.String())
	}
	for _, p := range []string{".Work.Sub/cur", ".Entw&APw-rfe/cur", "cur", ".Work/maildirfolder", "dovecot-keywords"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("export lacks %s: %v", p, err)
		}
	}
	if err := ex.ExportMaildir(ctx, dir); err == nil {
		t.Error("export into a non-empty directory succeeded")
	}
	dst := e.account(t, "dst@example.test")
	im := e.importer(dst)
	if err := im.ImportMaildir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if im.Summary.Messages != 7 || im.Summary.Duplicates != 0 || im.Summary.Errors != 0 || im.Summary.Created != 3 {
		t.Fatalf("import: %s", im.Summary.String())
	}
	sameViews(t, e.snapshot(t, src), e.snapshot(t, dst))
	// Again: everything is a duplicate.
	im2 := e.importer(dst)
	if err := im2.ImportMaildir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if im2.Summary.Messages != 0 || im2.Summary.Duplicates != 7 {
		t.Fatalf("second import: %s", im2.Summary.String())
	}
	// The imported folders are subscribed, parents included.
	subs, _ := e.st.Subscriptions(ctx, dst.ID)
	if j := strings.Join(subs, ","); !strings.Contains(j, "Entwürfe,INBOX") || !strings.HasSuffix(j, "Trash,Work,Work/Sub") {
		t.Errorf("subscriptions %q", subs)
	}
}

func TestMboxRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.account(t, "src@example.test")
	e.fill(t, src)
	dir := filepath.Join(t.TempDir(), "mbox")
	ex := &Exporter{Store: e.st, Account: src}
	if err := ex.ExportMbox(ctx, dir); err != nil {
		t.Fatal(err)
	}
	inbox, err := os.ReadFile(filepath.Join(dir, "INBOX.mbox"))
	if err != nil || !strings.HasPrefix(string(inbox), "From MAILER-DAEMON ") || !strings.Contains(string(inbox), "From sender@remote.test ") ||
		!strings.Contains(string(inbox), "\n>From the start\n>>From quoted\n") {
		t.Fatalf("INBOX.mbox: %v\n%s", err, inbox)
	}
	if _, err := os.Stat(filepath.Join(dir, "Work", "Sub.mbox")); err != nil {
		t.Fatal(err)
	}
	dst := e.account(t, "dst@example.test")
	im := e.importer(dst)
	if err := im.ImportMbox(ctx, dir, "", mbox.MboxRD); err != nil {
		t.Fatal(err)
	}
	if im.Summary.Messages != 7 || im.Summary.Errors != 0 {
		t.Fatalf("import: %s", im.Summary.String())
	}
	sameViews(t, e.snapshot(t, src), e.snapshot(t, dst))
	// One file into a named folder.
	im2 := e.importer(dst)
	if err := im2.ImportMbox(ctx, filepath.Join(dir, "INBOX.mbox"), "Old/Inbox", mbox.MboxRD); err != nil {
		t.Fatal(err)
	}
	if im2.Summary.Messages != 4 || im2.Summary.Created != 2 {
		t.Fatalf("import into a folder: %s", im2.Summary.String())
	}
}

func TestToCRLF(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a\nb\n":     "a\r\nb\r\n",
		"a\r\nb\r\n": "a\r\nb\r\n",
		"a\r\nb\nc":  "a\r\nb\r\nc",
		"\n":         "\r\n",
		"bare\rcr\n": "bare\rcr\r\n",
		"no newline": "no newline",
		"":           "",
	} {
		if got := string(ToCRLF([]byte(in))); got != want {
			t.Errorf("ToCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func sameViews(t *testing.T, want, got []msgView) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(want[i], got[i]) {
			t.Fatalf("message %d differs:\nwant %+v\ngot  %+v", i, want[i], got[i])
		}
	}
}

// TestMboxImportInterrupted cancels an import midway (the pipeline has
// blobs written ahead of the appends) and runs it again: every message is
// there once.
func TestMboxImportInterrupted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.account(t, "a@example.test")
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "From x@y Thu Nov 26 10:00:00 2026\nSubject: %d\nMessage-ID: <%d@y>\n\n%s\n\n", i, i, strings.Repeat("z", i))
	}
	path := filepath.Join(t.TempDir(), "in.mbox")
	os.WriteFile(path, []byte(b.String()), 0o600)
	cctx, cancel := context.WithCancel(ctx)
	im := e.importer(a)
	im.OnAdded = func(n int) {
		if n == 50 {
			cancel()
		}
	}
	if err := im.ImportMbox(cctx, path, "In", mbox.MboxRD); err == nil || im.Summary.Messages != 50 || im.Summary.Errors != 0 {
		t.Fatalf("interrupted import: %v %s %q", err, im.Summary.String(), im.Summary.ErrorSamples)
	}
	im2 := e.importer(a)
	if err := im2.ImportMbox(ctx, path, "In", mbox.MboxRD); err != nil || im2.Summary.Messages != 150 || im2.Summary.Duplicates != 50 {
		t.Fatalf("second import: %v %s", err, im2.Summary.String())
	}
	mb, _ := e.st.Mailbox(ctx, a.ID, "In")
	msgs, _ := e.st.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	seen := map[string]bool{}
	for i, m := range msgs {
		if seen[m.Meta.MessageID] || m.Meta.MessageID != fmt.Sprintf("<%d@y>", i) {
			t.Fatalf("message %d: %s (order or duplicate)", i, m.Meta.MessageID)
		}
		seen[m.Meta.MessageID] = true
	}
	if len(msgs) != 200 {
		t.Fatalf("%d messages", len(msgs))
	}
}

package imapserver

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// certFile writes the server's (public) certificate for external clients.
func (e *env) certFile(t *testing.T) string {
	t.Helper()
	cert := e.srv.tls.Certificates[0].Leaf
	p := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A scripted mailbox session with Python's imaplib.
func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	python := testutil.Python(t, "imaplib", "python3")
	e := newEnv(t)
	e.deliver(t, "", testMsg("hello from smtp", "the quick brown fox"))
	script := `
import imaplib, ssl, sys
port, cafile, user, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
ok(m.login(user, pw))
boxes = ok(m.list())
assert any(b'"Sent"' in b or b' Sent' in b for b in boxes), boxes
ok(m.create("Projects/Python"))
assert any(b"Projects/Python" in b for b in ok(m.list('""', "Projects/*"))), "created folder not listed"
n = int(ok(m.select("INBOX"))[0])
assert n == 1, n
ok(m.append("INBOX", "(\\Flagged)", None, b"From: py@ext.test\r\nSubject: from python\r\n\r\nappended by imaplib\r\n"))
data = ok(m.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
assert b"hello from smtp" in data[0][1] and b"from python" in data[2][1], data
assert ok(m.search(None, "TEXT", "fox"))[0] == b"1"
assert ok(m.uid("SEARCH", None, "FLAGGED"))[0] == b"2"
ok(m.store("1", "+FLAGS", "(\\Seen \\Answered)"))
assert b"\\Answered" in ok(m.fetch("1", "(FLAGS)"))[0]
ok(m.copy("1:2", "Projects/Python"))
ok(m.store("2", "+FLAGS", "\\Deleted"))
assert ok(m.expunge())[0] == b"2"
full = ok(m.fetch("1", "(RFC822)"))[0][1]
assert b"the quick brown fox" in full, full
ok(m.select("Projects/Python", readonly=True))
assert ok(m.search(None, "ALL"))[0] == b"1 2"
ok(m.close())
assert m.logout()[0] == "BYE"
print("imaplib session OK")
`
	out := run(t, python, "-c", script, port(e.tlsAddr), e.certFile(t), testUser, testPass)
	if !strings.Contains(out, "imaplib session OK") {
		t.Fatal(out)
	}
	st, _ := e.store.MailboxStatus(context.Background(), e.mailbox(t, "Projects/Python").ID)
	inbox, _ := e.store.MailboxStatus(context.Background(), e.mailbox(t, "INBOX").ID)
	if st.Messages != 2 || inbox.Messages != 1 {
		t.Fatalf("after the session: Projects/Python %d, INBOX %d", st.Messages, inbox.Messages)
	}
}

// curl over imaps:// and imap:// with STARTTLS.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := testutil.NeedCommand(t, "curl", "curl")
	e := newEnv(t)
	e.deliver(t, "", testMsg("curl apples", "fetched by curl"))
	user := testUser + ":" + testPass
	base := "imaps://127.0.0.1:" + port(e.tlsAddr)
	if out := run(t, curl, "-sS", "--insecure", "-u", user, base+"/"); !strings.Contains(out, "INBOX") || !strings.Contains(out, "Trash") {
		t.Fatalf("curl LIST: %s", out)
	}
	if out := run(t, curl, "-sS", "--insecure", "-u", user, base+"/INBOX;UID=1"); !strings.Contains(out, "fetched by curl") {
		t.Fatalf("curl FETCH: %s", out)
	}
	if out := run(t, curl, "-sS", "--insecure", "-u", user, base+"/INBOX?SUBJECT%20apples"); !strings.Contains(out, "SEARCH 1") {
		t.Fatalf("curl SEARCH: %s", out)
	}
	msg := filepath.Join(t.TempDir(), "msg.eml")
	os.WriteFile(msg, []byte(testMsg("uploaded", "by curl")), 0o644)
	run(t, curl, "-sS", "--insecure", "-u", user, "-T", msg, base+"/Drafts")
	if st, _ := e.store.MailboxStatus(context.Background(), e.mailbox(t, "Drafts").ID); st.Messages != 1 {
		t.Fatalf("curl APPEND: %d messages in Drafts", st.Messages)
	}
	// imap:// with STARTTLS required.
	plain := "imap://127.0.0.1:" + port(e.plainAddr)
	if out := run(t, curl, "-sS", "--ssl-reqd", "--insecure", "-u", user, plain+"/INBOX;UID=1"); !strings.Contains(out, "fetched by curl") {
		t.Fatalf("curl STARTTLS FETCH: %s", out)
	}
	// Without TLS the password is never sent: LOGINDISABLED.
	cmd := exec.Command(curl, "-sS", "-u", user, plain+"/")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("curl without TLS logged in: %s", out)
	}
}

// mbsync (isync) syncs a mailbox with folders both ways with a local Maildir.
func TestMbsync(t *testing.T) {
	t.Parallel()
	mbsync := testutil.NeedCommand(t, "mbsync", "isync")
	e := newEnv(t)
	ctx := context.Background()
	e.deliver(t, "", testMsg("first", "one"))
	e.deliver(t, "", testMsg("second", "two"), `\Flagged`)
	if _, err := e.store.CreateMailbox(ctx, e.account.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateMailbox(ctx, e.account.ID, "Projects/2026", ""); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, "Projects/2026", testMsg("plan", "three"), `\Seen`)

	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	os.MkdirAll(maildir, 0o700)
	conf := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(conf, []byte(fmt.Sprintf(`IMAPAccount test
Host 127.0.0.1
Port %s
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, port(e.tlsAddr), testUser, testPass, e.certFile(t), maildir, maildir)), 0o600)

	run(t, mbsync, "-c", conf, "-a")
	// Down: folders and flags arrived.
	files := func(folder string) []string {
		var out []string
		for _, sub := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(maildir, folder, sub))
			for _, e := range ents {
				out = append(out, filepath.Join(maildir, folder, sub, e.Name()))
			}
		}
		return out
	}
	if n := len(files("INBOX")); n != 2 {
		t.Fatalf("INBOX: %d files", n)
	}
	pf := files("Projects/2026")
	if len(pf) != 1 || !strings.HasSuffix(pf[0], "S") {
		t.Fatalf("Projects/2026: %q", pf)
	}
	flagged := 0
	for _, f := range files("INBOX") {
		if strings.Contains(f[strings.LastIndex(f, ":2,"):], "F") {
			flagged++
		}
	}
	if flagged != 1 {
		t.Fatalf("flagged messages in the Maildir: %d (%q)", flagged, files("INBOX"))
	}

	// Up: mark one message seen and replied, add a folder with a message.
	for _, f := range files("INBOX") {
		if !strings.Contains(f[strings.LastIndex(f, ":2,"):], "F") {
			os.Rename(f, strings.Replace(f, "/new/", "/cur/", 1)[:len(f)-len(f[strings.LastIndex(f, ":2,"):])]+":2,RS")
		}
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(maildir, "Local", "Notes", sub), 0o700)
	}
	os.WriteFile(filepath.Join(maildir, "Local", "Notes", "cur", "1700000000.1.host:2,S"), []byte(testMsg("local note", "made offline")), 0o600)
	run(t, mbsync, "-c", conf, "-a")

	mb, err := e.store.Mailbox(ctx, e.account.ID, "Local/Notes")
	if err != nil {
		t.Fatalf("folder made locally is not on the server: %v", err)
	}
	msgs, _ := e.store.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{})
	if len(msgs) != 1 || !hasFlag(msgs[0].Flags, store.FlagSeen) {
		t.Fatalf("Local/Notes on the server: %+v", msgs)
	}
	inbox, _ := e.store.FetchMessages(ctx, e.mailbox(t, "INBOX").ID, store.AllUIDs, store.FetchOptions{})
	if len(inbox) != 2 || !hasFlag(inbox[0].Flags, store.FlagSeen) || !hasFlag(inbox[0].Flags, store.FlagAnswered) ||
		!hasFlag(inbox[1].Flags, store.FlagFlagged) {
		t.Fatalf("INBOX flags after the round trip: %+v", inbox)
	}
	// A third run changes nothing.
	run(t, mbsync, "-c", conf, "-a")
	if n := len(files("INBOX")); n != 2 {
		t.Fatalf("INBOX after a no-op sync: %d files", n)
	}
}

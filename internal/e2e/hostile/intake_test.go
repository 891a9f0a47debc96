package hostile

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// Issue 19 items 1, 3 and 11: sender spoofs on submission and the MX, and
// refused messages that stayed on disk.

const (
	bobPassword = "bob's own long password"
)

// transaction sends one message on an open SMTP session and returns the
// reply to its content (or to the first command refused before it).
func (c *conn) transaction(from, rcpt, msg string) string {
	c.t.Helper()
	if r := c.cmd("MAIL FROM:<"+from+">", ""); !strings.HasPrefix(r, "250") {
		return r
	}
	if r := c.cmd("RCPT TO:<"+rcpt+">", ""); !strings.HasPrefix(r, "250") {
		c.cmd("RSET", "250")
		return r
	}
	c.cmd("DATA", "354")
	return c.cmd(msg+".", "")
}

// submitAs opens a submission session (STARTTLS, AUTH) as u.
func submitAs(t *testing.T, e *testenv.Env, u, p string) *conn {
	t.Helper()
	c := dial(t, e, "submission", "")
	c.greet()
	c.starttls(e)
	if r := c.login(u, p); !loginOK(r) {
		t.Fatalf("login as %s: %q", u, r)
	}
	return c
}

// TestSubmissionSenderSpoof: an authenticated bob cannot make a message
// read as written or sent by alice, whatever header trick he uses; every
// attempt is refused and nothing reaches alice.
func TestSubmissionSenderSpoof(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.AddUser(t, bob, bobPassword)
	tests := []struct {
		name, header, want string
	}{
		// Item 1: "From :" was skipped by our check and read as From by
		// IMAP and the DKIM signer.
		{"From with a space before the colon", "From : " + user + "\r\nFrom: " + bob + "\r\n", "554 5.6.0"},
		{"From with a tab before the colon", "From\t: " + user + "\r\nFrom: " + bob + "\r\n", "554 5.6.0"},
		{"line without colon", "From " + user + "\r\nFrom: " + bob + "\r\n", "554 5.6.0"},
		{"two From fields", "From: " + bob + "\r\nFrom: " + user + "\r\n", "550 5.6.0"},
		{"Sender", "From: " + bob + "\r\nSender: " + user + "\r\n", "553 5.7.1"},
		{"Resent-From", "From: " + bob + "\r\nResent-From: Alice <" + user + ">\r\n", "553 5.7.1"},
		{"Resent-Sender", "From: " + bob + "\r\nResent-Sender: " + user + "\r\n", "553 5.7.1"},
		// Item 11: the display name is what a reader sees.
		{"display name", `From: "` + user + `" <` + bob + ">\r\n", "553 5.7.1"},
		{"encoded display name", "From: =?utf-8?q?alice=40example=2Etest?= <" + bob + ">\r\n", "553 5.7.1"},
		{"Sender display name", "From: " + bob + "\r\nSender: \"" + user + "\" <" + bob + ">\r\n", "553 5.7.1"},
	}
	c := submitAs(t, e, bob, bobPassword)
	before := len(inbox(t, e, user))
	for _, tc := range tests {
		r := c.transaction(bob, user, tc.header+"Subject: "+tc.name+"\r\n\r\nI am alice.\r\n")
		if !strings.HasPrefix(r, tc.want) {
			t.Errorf("%s: %q, want %s", tc.name, r, tc.want)
		}
	}
	if got := inbox(t, e, user)[before:]; len(got) != 0 {
		t.Errorf("%d spoofed messages reached alice:\n%s", len(got), got[0])
	}
	// Bob's own mail still goes through, display name and all.
	if r := c.transaction(bob, user, "From: \"Bob (bob@example.test)\" <"+bob+">\r\nSender: "+bob+"\r\nSubject: hi\r\n\r\nhi\r\n"); !strings.HasPrefix(r, "250") {
		t.Errorf("bob's own message: %q", r)
	}
	if got := inbox(t, e, user)[before:]; len(got) != 1 {
		t.Errorf("%d messages reached alice, want bob's one", len(got))
	}
}

// TestMXHeaderSyntax: on port 25 too, a header line that is not a field
// makes the message invalid (554 5.6.0), so that no reader of the stored
// message takes "From :" for the author.
func TestMXHeaderSyntax(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	before := len(inbox(t, e, user))
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO client.test", "250 ")
	for _, hdr := range []string{
		"From : " + user + "\r\nFrom: x@ext.test\r\n",
		"From " + user + "\r\nFrom: x@ext.test\r\n",
		" folded: nothing\r\nFrom: x@ext.test\r\n",
	} {
		if r := c.transaction("x@ext.test", user, hdr+"Subject: spoof\r\n\r\nbody\r\n"); !strings.HasPrefix(r, "554 5.6.0") {
			t.Errorf("%q: %q, want 554 5.6.0", hdr, r)
		}
	}
	if got := inbox(t, e, user)[before:]; len(got) != 0 {
		t.Errorf("stored %q", got)
	}
}

// blobFiles counts the files under the blob directory (committed blobs
// and temporary files alike) and their bytes.
func blobFiles(t *testing.T, e *testenv.Env) (n int, size int64) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(e.DataDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n++
			size += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, size
}

// TestRefusedMessageLeavesNoFile (item 3): messages refused after their
// content arrived (two From fields: DMARC reject on the MX) leave nothing
// on disk, and no store row; an accepted one leaves its blob.
func TestRefusedMessageLeavesNoFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.SMTP.CheckAuthentication = true })
	files, bytes := blobFiles(t, e)
	before := len(inbox(t, e, user))
	body := strings.Repeat(strings.Repeat("x", 998)+"\r\n", 2<<10) // 2 MiB
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO client.test", "250 ")
	for i := range 4 {
		r := c.transaction("x@ext.test", user, "From: x@ext.test\r\nFrom: y@ext.test\r\nSubject: refused\r\n\r\n"+body)
		if !strings.HasPrefix(r, "550 5.7.1") {
			t.Fatalf("message %d: %q, want 550 5.7.1", i, r)
		}
	}
	if n, b := blobFiles(t, e); n != files || b != bytes {
		t.Errorf("4 refused messages left %d files, %d bytes (before: %d files, %d bytes)", n-files, b-bytes, files, bytes)
	}
	if got := inbox(t, e, user)[before:]; len(got) != 0 {
		t.Errorf("%d refused messages stored", len(got))
	}
	if r := c.transaction("x@ext.test", user, "From: x@ext.test\r\nSubject: fine\r\n\r\nbody\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("good message: %q", r)
	}
	if n, _ := blobFiles(t, e); n != files+1 {
		t.Errorf("accepted message: %d new files, want 1", n-files)
	}
}

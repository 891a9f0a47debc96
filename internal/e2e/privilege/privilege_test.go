// Package privilege tests the split between root and the service user: a
// server that runs as an unprivileged user, and admin commands run as root
// against its data (issue "Run it for real": a root `kantorpos import`
// left root-owned blobs the server could not read).
package privilege

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/e2e/binary"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

const password = "a long password"

// serviceUser is the unprivileged user the server runs as in this test:
// Debian's "nobody".
func serviceUser(t *testing.T) (uid, gid uint32) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test needs root to run a server as another user")
		}
		t.Skip("needs root (run as CI does: as root)")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	u64, _ := strconv.ParseUint(u.Uid, 10, 32)
	g64, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(u64), uint32(g64)
}

// reachable lets the service user pass through dir and its parent (the
// test's temporary directories are 0700, root's).
func reachable(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRootAdminCommandsAgainstUnprivilegedServer(t *testing.T) {
	t.Parallel()
	uid, gid := serviceUser(t)
	base := t.TempDir()
	reachable(t, base)
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	s := binary.New(t, binary.Options{DataDir: data, Hostname: "mx.example.test"})
	reachable(t, filepath.Dir(s.Config))
	if err := os.Chmod(filepath.Dir(s.Bin), 0o711); err != nil { // the built binary's own directory
		t.Fatal(err)
	}
	if err := os.Chown(s.Config, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	s.Credential = &syscall.Credential{Uid: uid, Gid: gid}

	// As root, before and while the server runs: set up the account and
	// import a mailbox (the mbox is readable by the service user: the
	// command acts as the data directory's owner).
	s.Admin("", "domain", "add", "example.test")
	s.Admin(password+"\n", "user", "add", "bob@example.test", "-password-stdin")
	mbox := filepath.Join(base, "old.mbox")
	var sb strings.Builder
	for i := range 20 {
		fmt.Fprintf(&sb, "From old@example.org Mon Jan  5 10:00:00 2026\nFrom: old@example.org\nTo: bob@example.test\nSubject: imported %d\nMessage-ID: <imp%d@example.org>\n\nbody of imported message %d\n\n", i, i, i)
	}
	if err := os.WriteFile(mbox, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Stop()
	s.Admin("", "import", "mbox", "--account", "bob@example.test", mbox)

	// The server runs as the service user...
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid); !strings.Contains(string(status), want) {
		t.Fatalf("server is not running as uid %d:\n%s", uid, status)
	}
	// ...and still reads every imported message and takes new mail.
	if err := deliver(s.Addr["smtp"], "bob@example.test", "after the import"); err != nil {
		t.Fatalf("SMTP delivery after a root import: %v\n%s", err, s.Log())
	}
	// An mbox is imported into a folder named after the file.
	bodies, err := fetchAll(s.Addr["imap"], "bob@example.test", "old")
	if err != nil {
		t.Fatalf("IMAP after a root import: %v\n%s", err, s.Log())
	}
	if len(bodies) != 20 {
		t.Fatalf("folder old has %d messages, want the 20 imported", len(bodies))
	}
	for i, b := range bodies {
		if !strings.Contains(b, fmt.Sprintf("body of imported message %d", i)) {
			t.Errorf("message %d reads %q", i+1, b)
		}
	}
	inbox, err := fetchAll(s.Addr["imap"], "bob@example.test", "INBOX")
	if err != nil || len(inbox) != 1 || !strings.Contains(inbox[0], "after the import") {
		t.Errorf("INBOX: %v %q", err, inbox)
	}
	// Nothing in the data directory belongs to root.
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile (a temporary file)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("%s is owned by uid %d, not the service user %d", p, st.Uid, uid)
		}
		return nil
	})
}

// deliver sends one message on port 25.
func deliver(addr, rcpt, body string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return err
	}
	for _, step := range []struct {
		cmd  string
		code int
	}{{"EHLO client.example.org", 250}, {"MAIL FROM:<a@example.org>", 250}, {"RCPT TO:<" + rcpt + ">", 250}, {"DATA", 354}} {
		if err := tp.PrintfLine("%s", step.cmd); err != nil {
			return err
		}
		if _, _, err := tp.ReadResponse(step.code); err != nil {
			return fmt.Errorf("%s: %w", step.cmd, err)
		}
	}
	fmt.Fprintf(c, "From: a@example.org\r\nTo: %s\r\nSubject: new\r\nMessage-ID: <new@example.org>\r\n\r\n%s\r\n.\r\n", rcpt, body)
	_, _, err = tp.ReadResponse(250)
	return err
}

// fetchAll logs in over IMAP and reads BODY[] of every message of a
// mailbox, in order.
func fetchAll(addr, user, mailbox string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	line := func() (string, error) { return r.ReadString('\n') }
	if _, err := line(); err != nil {
		return nil, err
	}
	cmd := func(tag, text string) ([]string, error) {
		if _, err := fmt.Fprintf(c, "%s %s\r\n", tag, text); err != nil {
			return nil, err
		}
		var bodies []string
		for {
			l, err := line()
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					return nil, fmt.Errorf("%s: %s", text, strings.TrimSpace(l))
				}
				return bodies, nil
			}
			// A literal: "* 1 FETCH (BODY[] {123}"
			if i := strings.LastIndex(l, "{"); i >= 0 && strings.HasSuffix(l, "}\r\n") {
				n, err := strconv.Atoi(l[i+1 : len(l)-3])
				if err != nil {
					return nil, fmt.Errorf("bad literal in %q", l)
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(r, b); err != nil {
					return nil, err
				}
				bodies = append(bodies, string(b))
			}
		}
	}
	if _, err := cmd("a", fmt.Sprintf("LOGIN %s %q", user, password)); err != nil {
		return nil, err
	}
	if _, err := cmd("b", "SELECT "+mailbox); err != nil {
		return nil, err
	}
	return cmd("c", "FETCH 1:* BODY.PEEK[]")
}

// serve started as root binds its ports (one below 1024 here), then
// becomes the configured service user before it opens the data: the
// process runs as that user, serves the low port, takes mail, and every
// file it made belongs to that user.
func TestServeAsRootBecomesServiceUser(t *testing.T) {
	t.Parallel()
	uid, _ := serviceUser(t)
	s := binary.New(t, binary.Options{Hostname: "mx.example.test"}) // as root it names user = "nobody"
	low := ""
	for p := 600; p < 1000 && low == ""; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			low = ln.Addr().String()
			ln.Close()
		}
	}
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(cfg), "[web]\nlisten = \"\"", fmt.Sprintf("[web]\nlisten = %q", low), 1)
	if text == string(cfg) || !strings.Contains(text, `user = "nobody"`) {
		t.Fatalf("unexpected configuration:\n%s", cfg)
	}
	if err := os.WriteFile(s.Config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Admin("", "domain", "add", "example.test")
	s.Admin(password+"\n", "user", "add", "bob@example.test", "-password-stdin")
	s.Start()
	defer s.Stop()
	// The sockets accept (in the kernel's backlog) from the moment they
	// are bound, before the process gives up root: wait for that.
	var status []byte
	want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid)
	testutil.WaitFor(t, 30*time.Second, "serve to become the service user", func() bool {
		status, _ = os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
		return strings.Contains(string(status), want)
	})
	if !regexp.MustCompile(`(?m)^Groups:\s*$`).Match(status) {
		t.Errorf("supplementary groups kept:\n%s", status)
	}
	c, err := net.DialTimeout("tcp", low, 10*time.Second)
	if err != nil {
		t.Fatalf("the port below 1024 bound as root is not served: %v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: mx.example.test\r\n\r\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.") {
		t.Errorf("web listener on %s: %q %v", low, line, err)
	}
	c.Close()
	if err := deliver(s.Addr["smtp"], "bob@example.test", "to a server that gave up root"); err != nil {
		t.Fatalf("SMTP: %v\n%s", err, s.Log())
	}
	if !strings.Contains(s.Log(), "running as the service user") {
		t.Errorf("the log does not say which user the server became:\n%s", s.Log())
	}
	filepath.WalkDir(s.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Sys().(*syscall.Stat_t).Uid != uid {
			t.Errorf("%s is owned by uid %d, not the service user %d", p, fi.Sys().(*syscall.Stat_t).Uid, uid)
		}
		return nil
	})
}

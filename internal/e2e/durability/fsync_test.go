// Package durability checks the real binary's write path: the order of
// its syscalls before it acknowledges (strace), and its behaviour on a
// full disk (a small tmpfs).
package durability

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/e2e/binary"
)

const password = "durability test password"

// TestFsyncBeforeReply traces the server's syscalls during one SMTP
// delivery, one IMAP APPEND and one POP3 DELE+QUIT, and checks DESIGN.md
// "Durability": before the positive reply is written to the socket, the
// blob file is fsynced, put into place (renamed, or linked from an unnamed
// O_TMPFILE file) and its directory fsynced, and
// the database commit's WAL is synced (after the blob is durable). A kill
// -9 keeps the page cache, so the crash test cannot see a missing fsync;
// this test does.
func TestFsyncBeforeReply(t *testing.T) {
	strace := binary.NeedCommand(t, "strace", "strace")
	srv := binary.New(t, binary.Options{})
	srv.Admin("", "domain", "add", "crash.test")
	srv.Admin(password+"\n", "user", "add", "u@crash.test", "-password-stdin")
	trace := filepath.Join(t.TempDir(), "trace.txt")
	srv.StartWith([]string{strace, "-f", "-y", "-yy", "-s", "64", "-o", trace,
		"-e", "trace=openat,write,pwrite64,pwritev,writev,sendto,fsync,fdatasync,rename,renameat,renameat2,linkat"})

	// SMTP: one message to a local account.
	c := dial(t, srv.Addr["smtp"])
	c.want("220")
	for _, cmd := range []string{"EHLO client.test", "MAIL FROM:<a@ext.test>", "RCPT TO:<u@crash.test>"} {
		c.cmd(cmd, "250")
	}
	c.cmd("DATA", "354")
	c.cmd("Subject: traced\r\n\r\nthe traced message\r\n.", "250 2.0.0 OK id=")
	c.cmd("QUIT", "221")
	// IMAP: APPEND.
	c = dial(t, srv.Addr["imap"])
	c.want("* OK")
	c.cmd(`a LOGIN u@crash.test "`+password+`"`, "a OK")
	msg := "Subject: appended\r\n\r\nthe appended message\r\n"
	c.cmd(fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s", len(msg), msg), "b OK [APPENDUID")
	c.cmd("c LOGOUT", "* BYE")
	// POP3: delete the first message, QUIT.
	c = dial(t, srv.Addr["pop3"])
	c.want("+OK")
	c.cmd("USER u@crash.test", "+OK")
	c.cmd("PASS "+password, "+OK")
	c.cmd("DELE 1", "+OK")
	c.cmd("QUIT", "+OK Bye")
	srv.Stop()

	evs, err := parseStrace(trace)
	if err != nil {
		t.Fatal(err)
	}
	checkBlobAndCommit(t, evs, "SMTP 250 after DATA", "250 2.0.0 OK id=")
	checkBlobAndCommit(t, evs, "IMAP APPEND OK", "b OK [APPENDUID")
	// POP3 writes no blob: the deletion's commit is synced before +OK.
	reply, ok := replyWrite(evs, "+OK Bye")
	if !ok {
		t.Fatalf("POP3: no write of the QUIT reply in the trace")
	}
	w, s, ok := walCommit(evs, reply.start)
	if !ok || w.end < lastReply(evs, "+OK", reply.start) {
		t.Errorf("POP3 QUIT: no WAL write+sync between DELE and the +OK to QUIT (last WAL write line %d, sync %+v)", w.end, s)
	} else {
		t.Logf("POP3 QUIT: WAL write line %d, %s line %d, reply line %d", w.end, s.name, s.end, reply.start)
	}
}

// checkBlobAndCommit checks the order of the writes before the reply
// whose text starts with prefix.
func checkBlobAndCommit(t *testing.T, evs []syscallEvent, what, prefix string) {
	t.Helper()
	reply, ok := replyWrite(evs, prefix)
	if !ok {
		t.Errorf("%s: no write of %q on a socket in the trace", what, prefix)
		return
	}
	ren, from, to, ok := blobPlaced(evs, reply.start)
	if !ok {
		t.Errorf("%s: no rename or link of a blob into place before the reply (line %d)", what, reply.start)
		return
	}
	fileSync, ok := fileSyncOf(evs, from, ren.start)
	if !ok {
		t.Errorf("%s: the blob file (%s) was not fsynced before its %s (line %d)", what, from, ren.name, ren.start)
	}
	dirSync, ok := syncOf(evs, filepath.Dir(to), ren.end, reply.start)
	if !ok {
		t.Errorf("%s: the directory %s was not fsynced between the %s (line %d) and the reply (line %d)", what, filepath.Dir(to), ren.name, ren.end, reply.start)
		return
	}
	w, s, ok := walCommit(evs, reply.start)
	switch {
	case !ok:
		t.Errorf("%s: no WAL write followed by fsync/fdatasync of the WAL before the reply (line %d)", what, reply.start)
	case w.end < dirSync.end:
		t.Errorf("%s: the commit's last WAL write (line %d) came before the blob was durable (dir fsync line %d)", what, w.end, dirSync.end)
	default:
		t.Logf("%s: blob fsync line %d < %s %d < dir fsync %d < WAL write %d < %s %d < reply %d",
			what, fileSync.end, ren.name, ren.end, dirSync.end, w.end, s.name, s.end, reply.start)
	}
}

// lastReply returns the line of the last socket write starting with prefix before line.
func lastReply(evs []syscallEvent, prefix string, before int) int {
	last := -1
	for _, e := range evs {
		if e.start >= before {
			break
		}
		if (e.name == "write" || e.name == "writev") && strings.HasPrefix(e.fd(), "TCP:") {
			if s := e.strings(); len(s) > 0 && strings.HasPrefix(s[0], prefix) {
				last = e.start
			}
		}
	}
	return last
}

// conn is a raw line client.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

// want reads lines until one starts with prefix (or fails).
func (c *conn) want(prefix string) string {
	c.t.Helper()
	var seen []string
	for {
		l, err := c.r.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		if err != nil {
			c.t.Fatalf("want %q: %v (read %q)", prefix, err, seen)
		}
		if strings.HasPrefix(l, prefix) && !smtpContinuation(l) {
			return l
		}
		if len(seen) < 20 {
			seen = append(seen, l)
		}
		if len(seen) > 100000 || isFinal(l) && !strings.HasPrefix(l, "*") {
			c.t.Fatalf("want %q, got %q", prefix, seen)
		}
	}
}

func smtpContinuation(l string) bool {
	return len(l) >= 4 && l[3] == '-' && l[0] >= '2' && l[0] <= '5'
}

// isFinal: an SMTP last reply line, an IMAP tagged line or a POP3 status.
func isFinal(l string) bool {
	if len(l) >= 4 && l[3] == ' ' && l[0] >= '2' && l[0] <= '5' {
		return true
	}
	return strings.HasPrefix(l, "-ERR") || strings.Contains(l, " NO ") || strings.Contains(l, " BAD ")
}

func (c *conn) cmd(line, prefix string) string {
	c.t.Helper()
	if _, err := c.c.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
	return c.want(prefix)
}

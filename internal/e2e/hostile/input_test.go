package hostile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Oversized input (security.md 1.11, 1.13): huge literals, huge command
// lines and 10 MB without a line end get an error or a close, fast, on
// every protocol; no "+" continuation for a literal beyond the limits. The
// server serves a normal client afterwards.
func TestOversizedInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	big := strings.Repeat("a", 10<<20)
	tests := []struct {
		name, listener string
		login          bool
		chunks         []string
		// ok checks the replies; closed tells whether the server closed.
		ok func(got []string, closed bool) bool
	}{
		{"SMTP 10 MB line without CRLF", "smtp", false, []string{big}, errorOrClosed},
		{"SMTP 1 MB command line", "smtp", false, []string{"EHLO " + strings.Repeat("a", 1<<20) + "\r\n"}, errorOrClosed},
		{"SMTP 1 MB RCPT", "smtp", false, []string{"EHLO x\r\nMAIL FROM:<a@ext.test>\r\nRCPT TO:<" + strings.Repeat("a", 1<<20) + "@example.test>\r\n"}, errorOrClosed},
		{"SMTP SIZE beyond the limit", "smtp", false, []string{"EHLO x\r\nMAIL FROM:<a@ext.test> SIZE=999999999\r\n"},
			func(g []string, _ bool) bool { return contains(g, "552 5.3.4") }},
		{"submission 10 MB line before TLS", "submission", false, []string{big}, errorOrClosed},
		{"IMAP 10 MB line before login", "imap", false, []string{big}, errorOrClosed},
		{"IMAP 10 MB line after login", "imaps", true, []string{big}, errorOrClosed},
		{"IMAP literal {4294967295}", "imap", false, []string{"a LOGIN {4294967295}\r\n"}, noContinuation},
		{"IMAP literal {99999999+} and 8 MB", "imap", false, []string{"a LOGIN {99999999+}\r\n", strings.Repeat("x", 8<<20)}, errorOrClosed},
		{"IMAP APPEND {99999999999}", "imaps", true, []string{"a APPEND INBOX {99999999999}\r\n"}, noContinuation},
		{"IMAP APPEND over the limit, LITERAL+", "imaps", true, []string{"a APPEND INBOX {99999999+}\r\n", strings.Repeat("x\r\n", 1<<20)},
			func(g []string, c bool) bool { return contains(g, "a NO") || c }},
		{"IMAP 1000 literals", "imaps", true, []string{"s SELECT INBOX\r\na SEARCH " + strings.Repeat("TEXT {1+}\r\nx ", 1000) + "\r\n"}, notOK("a")},
		{"IMAP 100000 parentheses before login", "imap", false, []string{"a ID " + strings.Repeat("(", 100000) + "\r\n"}, errorOrClosed},
		// A literal argument (APPEND's message aside) is bounded at 48 KiB.
		{"IMAP 40 KiB literal", "imaps", false, []string{"a LOGIN alice@example.test {40960+}\r\n" + strings.Repeat("p", 40960) + "\r\n"},
			func(g []string, _ bool) bool { return contains(g, "a NO [AUTHENTICATIONFAILED]") }},
		{"IMAP 60 KiB literal", "imaps", false, []string{"a LOGIN alice@example.test {61440+}\r\n" + strings.Repeat("p", 61440) + "\r\n"},
			func(g []string, c bool) bool { return !contains(g, "AUTHENTICATIONFAILED") && errorOrClosed(g, c) }},
		{"IMAP 60 KiB command line", "imaps", true, []string{"a SEARCH " + strings.Repeat("ALL ", 15<<10) + "\r\n"}, errorOrClosed},
		{"POP3 10 MB line", "pop3", false, []string{big}, errorOrClosed},
		{"POP3 1 MB USER", "pop3s", false, []string{"USER " + strings.Repeat("a", 1<<20) + "\r\n"}, errorOrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, e, tt.listener, sourceIP())
			c.greet()
			if tt.login {
				if r := c.login(user, password); !loginOK(r) {
					t.Fatalf("login: %q", r)
				}
			}
			start := time.Now()
			for _, ch := range tt.chunks {
				if !c.sendMaybe(ch) {
					break // closed on us mid-way: a fine answer
				}
			}
			got, closed := c.drain(3 * time.Second)
			if !tt.ok(got, closed) {
				t.Errorf("replies %q closed=%v", first(got, 5), closed)
			}
			t.Logf("%v: %q closed=%v", time.Since(start).Round(time.Millisecond), first(got, 3), closed)
		})
	}
	t.Cleanup(func() {
		// Still serving.
		c := dial(t, e, "imaps", "")
		c.greet()
		if r := c.login(user, password); !loginOK(r) {
			t.Errorf("after the hostile input: %q", r)
		}
	})
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func contains(got []string, s string) bool {
	for _, l := range got {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// errorOrClosed: no IMAP continuation, and the server closed the
// connection or its last reply is an error (replies to the harmless
// commands before the hostile one may be positive).
func errorOrClosed(got []string, closed bool) bool {
	if !noContinuation(got, closed) {
		return false
	}
	if closed {
		return true
	}
	if len(got) == 0 {
		return false
	}
	l := got[len(got)-1]
	return strings.HasPrefix(l, "5") || strings.HasPrefix(l, "4") || strings.HasPrefix(l, "-ERR") || strings.Contains(l, " BAD ") ||
		strings.Contains(l, " NO ") || strings.Contains(l, "BYE")
}

func noContinuation(got []string, closed bool) bool {
	for _, l := range got {
		if strings.HasPrefix(l, "+") {
			return false
		}
	}
	return true
}

func notOK(tag string) func([]string, bool) bool {
	return func(got []string, closed bool) bool { return !contains(got, tag+" OK") }
}

// NUL bytes (security.md 1.15): refused with 554 5.6.0 on SMTP (issue 19
// item 14); elsewhere rejected, or stored byte for byte.
func TestNULBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	t.Run("SMTP DATA", func(t *testing.T) {
		before := len(inbox(t, e, user))
		c := dial(t, e, "smtp", "")
		c.greet()
		c.cmd("EHLO client.test", "250 ")
		c.cmd("MAIL FROM:<a@ext.test>", "250")
		c.cmd("RCPT TO:<"+user+">", "250")
		c.cmd("DATA", "354")
		body := "Sub\x00ject: nul\r\nX-Id: nul-test\r\n\r\nbody \x00 with a NUL\r\n"
		r := c.cmd(body+".", "")
		// Issue 19 item 14: refused like a bare line ending (RFC 2045
		// 2.8: no NUL in 7bit or 8bit data), nothing stored.
		if msgs := inbox(t, e, user)[before:]; !strings.HasPrefix(r, "554 5.6.0") || len(msgs) != 0 {
			t.Errorf("DATA with NUL: %q, stored %q; want 554 5.6.0 and nothing", r, msgs)
		}
		// Also in the body only, and in a BDAT chunk.
		c.cmd("MAIL FROM:<a@ext.test>", "250")
		c.cmd("RCPT TO:<"+user+">", "250")
		c.cmd("DATA", "354")
		if r := c.cmd("Subject: nul\r\n\r\nx\x00y\r\n.", ""); !strings.HasPrefix(r, "554 5.6.0") {
			t.Errorf("DATA with a NUL in the body: %q", r)
		}
		c.cmd("MAIL FROM:<a@ext.test>", "250")
		c.cmd("RCPT TO:<"+user+">", "250")
		chunk := "Subject: nul\r\n\r\nx\x00y\r\n"
		if r := c.cmd(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk[:len(chunk)-2]), ""); !strings.HasPrefix(r, "554 5.6.0") {
			t.Errorf("BDAT with a NUL: %q", r)
		}
		if msgs := inbox(t, e, user)[before:]; len(msgs) != 0 {
			t.Errorf("stored %q", msgs)
		}
		c.cmd("QUIT", "221")
	})
	t.Run("POP3 USER", func(t *testing.T) {
		c := dial(t, e, "pop3s", "")
		c.greet()
		if r := c.cmd("USER a\x00b", ""); !strings.HasPrefix(r, "-ERR") {
			t.Errorf("USER with NUL: %q", r)
		}
	})
	t.Run("IMAP LOGIN and APPEND", func(t *testing.T) {
		c := dial(t, e, "imaps", sourceIP())
		c.greet()
		if r := c.cmd("a LOGIN \"al\x00ice@example.test\" pw", "a "); strings.HasPrefix(r, "a OK") {
			t.Errorf("LOGIN with NUL: %q", r)
		}
		if r := c.login(user, password); !loginOK(r) {
			t.Fatal(r)
		}
		msg := "Subject: nul\r\n\r\na \x00 b\r\n"
		r := c.cmd(fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s", len(msg), msg), "b ")
		if strings.HasPrefix(r, "b OK") {
			c.cmd("c SELECT INBOX", "c OK")
			c.send("d FETCH * BODY.PEEK[]\r\n")
			var buf bytes.Buffer
			for {
				l, ok := c.line(10 * time.Second)
				if !ok || strings.HasPrefix(l, "d ") {
					break
				}
				buf.WriteString(l + "\r\n")
			}
			if !strings.Contains(buf.String(), "a \x00 b") {
				t.Errorf("APPEND with NUL: OK, but FETCH returns %q", buf.String())
			}
		}
		t.Logf("APPEND with a NUL: %q", r)
	})
}

// Mailbox and user names that try to leave the data directory
// (security.md 1.12): NO, and find shows nothing new outside it.
func TestPathTraversal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	stamp := filepath.Join(t.TempDir(), "stamp")
	if err := os.WriteFile(stamp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := dial(t, e, "imaps", sourceIP())
	c.greet()
	if r := c.login(user, password); !loginOK(r) {
		t.Fatal(r)
	}
	for i, cmd := range []string{
		`CREATE "../../tmp/pwn"`, `CREATE "INBOX/../../pwn"`, `CREATE "/etc/pwn"`, `CREATE "&AC4ALg-/pwn"`,
		`CREATE "./pwn"`, `CREATE "a//pwn"`, `RENAME INBOX "../pwn"`, `SELECT "/etc"`, `SELECT "../../etc/passwd"`,
		`APPEND "../pwn" {1+}` + "\r\nx", `COPY 1 "../pwn"`,
	} {
		tag := fmt.Sprintf("t%d", i)
		if r := c.cmd(tag+" "+cmd, tag+" "); strings.HasPrefix(r, tag+" OK") {
			t.Errorf("%s: %q", cmd, r)
		}
	}
	r := c.cmd(`l LIST "" "../*"`, "l ")
	if !strings.HasPrefix(r, "l OK") && !strings.HasPrefix(r, "l NO") && !strings.HasPrefix(r, "l BAD") {
		t.Errorf("LIST ../*: %q", r)
	}
	c2 := dial(t, e, "imaps", sourceIP())
	c2.greet()
	if r := c2.login("../"+user, password); loginOK(r) {
		t.Errorf("LOGIN ../user: %q", r)
	}
	// Nothing named pwn appeared anywhere near: the data directory's
	// parents, /tmp, the root.
	find := testenvFind(t)
	// (stdout only: other tests remove their temporary directories
	// while find walks.)
	out, _ := exec.Command(find, filepath.Dir(filepath.Dir(e.DataDir)), "/tmp", "/etc", "-maxdepth", "4", "-newer", stamp, "-name", "*pwn*").Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("created outside the data directory:\n%s", s)
	}
	out, _ = exec.Command(find, e.DataDir, "-newer", stamp, "-name", "*pwn*").Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("files named after the mailbox in the data directory:\n%s", s)
	}
}

func testenvFind(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("find")
	if err != nil {
		t.Skip("find not found (Debian package findutils)")
	}
	return p
}

package hostile

import (
	"strings"
	"testing"
	"time"
)

// Issue 19 item 14: a DATA line that starts with "." and a bare CR. go-smtp's
// reader drops the two bytes and passes the rest on ("\r\n.\rX" becomes
// "\r\nX"), so the message would be stored altered. It holds a bare CR:
// 554 5.6.0 and the connection closed, as for a bare LF, nothing stored.
// (Plaintext port 25: over TLS the server cannot see the raw bytes, see
// smtpserver/doc.go.)
func TestDotBareCRLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, content := range []string{
		"Subject: a\r\n\r\nx\r\n.\rX-Injected: 1\r\n",
		".\rSubject: first line\r\n\r\nx\r\n",
		"Subject: a\r\n\r\nx\r\n.\r.\r\n", // would be stored as a line "."
	} {
		before := len(inbox(t, e, user))
		c := dial(t, e, "smtp", "")
		c.greet()
		c.cmd("EHLO client.test", "250 ")
		c.cmd("MAIL FROM:<a@ext.test>", "250")
		c.cmd("RCPT TO:<"+user+">", "250")
		c.cmd("DATA", "354")
		c.send(content + ".\r\n")
		r, _ := c.line(30 * time.Second)
		if !strings.HasPrefix(r, "554 5.6.0") {
			t.Errorf("%q: reply %q, want 554 5.6.0", content, r)
		}
		if _, closed := c.drain(5 * time.Second); !closed {
			t.Errorf("%q: connection left open", content)
		}
		if msgs := inbox(t, e, user)[before:]; len(msgs) != 0 {
			t.Errorf("%q: stored %q", content, msgs)
		}
	}
}

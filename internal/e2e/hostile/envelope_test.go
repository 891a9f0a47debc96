package hostile

import (
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
)

// Issue 19 item 17: "RCPT TO:<Postmaster>" without a domain must be
// accepted in any case (RFC 5321 4.5.1) and reaches the postmaster of our
// primary domain: postmaster@example.test for mx.example.test, here the
// configured postmaster (alice).
func TestBarePostmaster(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.SMTP.Postmaster = user })
	before := len(inbox(t, e, user))
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<a@ext.test>", "250")
	for _, to := range []string{"<Postmaster>", "<POSTMASTER>", "<postmaster>"} {
		if r := c.cmd("RCPT TO:"+to, ""); !strings.HasPrefix(r, "250") {
			t.Errorf("RCPT TO:%s: %q", to, r)
		}
	}
	c.cmd("DATA", "354")
	c.cmd("From: a@ext.test\r\nSubject: to the postmaster\r\n\r\nhello\r\n.", "250")
	c.cmd("QUIT", "221")
	msgs := inbox(t, e, user)[before:]
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Delivered-To: "+user+"\r\n") || !strings.Contains(msgs[0], "Subject: to the postmaster") {
		t.Errorf("stored %q, want one message for %s", msgs, user)
	}
}

// Issue 19 item 15: go-smtp passes a quoted local part on without its
// quotes. One that needs quoting is refused (553), never stored as another
// address: <"\"alice\""@example.test> (the local part `"alice"`, quotes
// included) is not alice, and <"\"a b\""@ext.test> is not "a b"@ext.test.
func TestQuotedLocalPart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	before := len(inbox(t, e, user))
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO client.test", "250 ")
	for _, from := range []string{`<"<script>"@ext.test>`, `<"\"a b\""@ext.test>`, `<"a\"b"@ext.test>`} {
		if r := c.cmd("MAIL FROM:"+from, ""); !strings.HasPrefix(r, "553") {
			t.Errorf("MAIL FROM:%s: %q, want 553", from, r)
			c.cmd("RSET", "250")
		}
	}
	c.cmd("MAIL FROM:<a@ext.test>", "250")
	for _, to := range []string{`<"<script>"@example.test>`, `<"\"alice\""@example.test>`} {
		if r := c.cmd("RCPT TO:"+to, ""); !strings.HasPrefix(r, "553") {
			t.Errorf("RCPT TO:%s: %q, want 553", to, r)
		}
	}
	if r := c.cmd("DATA", ""); !strings.HasPrefix(r, "5") {
		c.cmd("Subject: q\r\n\r\nx\r\n.", "")
		t.Errorf("DATA without a valid recipient: %q", r)
	}
	c.cmd("QUIT", "221")
	if msgs := inbox(t, e, user)[before:]; len(msgs) != 0 {
		t.Errorf("stored %q", msgs)
	}
}

// A bidi override or other non-printing character in a SMTPUTF8 address
// would reach the Return-Path field (and the log) raw, reordering what the
// reader sees, like the HELO of issue 19 item 12: refused with 553.
func TestNonPrintingAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO client.test", "250 ")
	for _, from := range []string{"<gro\u202eup@ext.test>", "<a\u200bb@ext.test>", "<a\u0085b@ext.test>"} {
		if r := c.cmd("MAIL FROM:"+from+" SMTPUTF8", ""); !strings.HasPrefix(r, "553") {
			t.Errorf("MAIL FROM:%q: %q, want 553", from, r)
			c.cmd("RSET", "250")
		}
	}
	c.cmd("MAIL FROM:<jürgen@ext.test> SMTPUTF8", "250")
	if r := c.cmd("RCPT TO:<ali\u202ece@example.test>", ""); !strings.HasPrefix(r, "553") {
		t.Errorf("RCPT with U+202E: %q, want 553", r)
	}
	c.cmd("QUIT", "221")
}

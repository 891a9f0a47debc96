package smtpserver

import (
	"strings"
	"testing"
)

// TestBarePostmaster: RFC 5321 4.5.1 requires "RCPT TO:<Postmaster>"
// without a domain to be accepted, in any case; it goes to the postmaster
// of our primary domain (issue 19 item 17). Here the host is mx.local.test:
// postmaster@local.test, which has no alias, so the configured postmaster
// (alice) gets it, once even when named twice.
func TestBarePostmaster(t *testing.T) {
	t.Parallel()
	for _, kind := range []Kind{MX, Submission} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, func(c *Config, d *Deps) { c.AllowInsecureAuth = true })
			r := e.raw()
			r.cmd("EHLO client.test", "250")
			from := "s@ext.test"
			if kind == Submission {
				r.cmd("AUTH PLAIN "+b64("\x00bob@local.test\x00"+bobPass), "235")
				from = "bob@local.test"
			}
			r.cmd("MAIL FROM:<"+from+">", "250")
			r.cmd("RCPT TO:<Postmaster>", "250")
			r.cmd("RCPT TO:<POSTMASTER>", "250")
			r.cmd("RCPT TO:<postmaster> NOTIFY=NEVER", "250")
			r.cmd("RCPT TO:<Postmaster@>", "5") // a domain must follow "@"
			r.cmd("RCPT TO:<Postmistress>", "5")
			r.cmd("DATA", "354")
			r.cmd("From: "+from+"\r\nSubject: abuse report\r\n\r\nhello\r\n.", "250 2.0.0 OK id=")
			ds := e.st.delivered()
			if len(ds) != 1 || len(ds[0].Local) != 1 || ds[0].Local[0].AccountID != 1 || ds[0].Remote != nil {
				t.Fatalf("deliveries %+v", ds)
			}
			if got := e.st.content(ds[0], ds[0].Local[0]); !strings.Contains(got, "Delivered-To: alice@local.test\r\n") {
				t.Errorf("stored:\n%s", got)
			}
		})
	}
}

// TestQuotedLocalPart (issue 19 item 15): go-smtp hands over a quoted local
// part without its quotes, so a local part that needs quoting cannot be
// kept as written: it is refused with 553 (nothing stored), never recorded
// as a different address. A quoted form that means the same as a dot-atom
// is accepted and written as the dot-atom (RFC 5322 3.4.1).
func TestQuotedLocalPart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	for _, from := range []string{`"<script>"@ext.test`, `"a b"@ext.test`, `"\"a b\""@ext.test`, `"\"x\""@ext.test`, `"a\\b"@ext.test`} {
		r.cmd("MAIL FROM:<"+from+">", "553 5.1.7")
	}
	r.cmd(`MAIL FROM:<"a.b"@ext.test>`, "250")
	for _, to := range []string{`"<script>"@local.test`, `"\"alice\""@local.test`, `"al ice"@local.test`} {
		r.cmd("RCPT TO:<"+to+">", "553 5.1.3")
	}
	r.cmd(`RCPT TO:<"x@ext.test"@local.test>`, "554 5.7.1") // relay syntax
	r.cmd(`RCPT TO:<"alice"@local.test>`, "250")
	r.cmd("DATA", "354")
	r.cmd("Subject: q\r\n\r\nx\r\n.", "250 2.0.0 OK id=")
	ds := e.st.delivered()
	if len(ds) != 1 || len(ds[0].Local) != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	got := e.st.content(ds[0], ds[0].Local[0])
	if !strings.HasPrefix(got, "Return-Path: <a.b@ext.test>\r\nDelivered-To: alice@local.test\r\n") {
		t.Errorf("stored:\n%s", got)
	}
}

package smtpserver

import (
	"context"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestSubmissionNeedsAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission)
	c := e.dial(true)
	if err := c.Mail("alice@local.test", nil); code(err) != 530 || enhanced(err) != "5.7.0" {
		t.Fatalf("MAIL before AUTH: %v", err)
	}
	// RFC 4954 4: no plaintext AUTH before TLS.
	r := e.raw()
	got := r.cmd("EHLO client.test", "250")
	if strings.Contains(got, "AUTH") || !strings.Contains(got, "STARTTLS") {
		t.Errorf("plaintext EHLO: %q", got)
	}
	r.cmd("AUTH PLAIN "+b64("\x00alice@local.test\x00"+alicePass), "538 5.7.11")
	r.cmd("MAIL FROM:<alice@local.test>", "530 5.7.0")
}

func TestSubmissionAuthMechanisms(t *testing.T) {
	t.Parallel()
	for _, kind := range []Kind{Submission, SubmissionTLS} {
		e := newEnv(t, kind)
		for _, cl := range []sasl.Client{
			sasl.NewPlainClient("", "alice@local.test", alicePass),
			sasl.NewPlainClient("alice@local.test", "ALICE@local.test", alicePass),
			sasl.NewLoginClient("alice@local.test", alicePass),
		} {
			c := e.dial(true)
			if err := c.Auth(cl); err != nil {
				t.Fatalf("%v: auth: %v", kind, err)
			}
			if err := send(c, "alice@local.test", []string{"bob@local.test"}, "From: alice@local.test\r\nSubject: hi\r\n\r\nhi\r\n"); err != nil {
				t.Fatalf("%v: send: %v", kind, err)
			}
		}
		if n := len(e.st.delivered()); n != 3 {
			t.Errorf("%v: %d deliveries", kind, n)
		}
	}
}

func TestSubmissionInsecureAuthOptIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission, func(c *Config, d *Deps) { c.AllowInsecureAuth = true })
	c := e.dial(false)
	if ok, p := c.Extension("AUTH"); !ok || p != "PLAIN LOGIN" {
		t.Fatalf("AUTH %v %q", ok, p)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@local.test", alicePass)); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@local.test", []string{"bob@local.test"}, "From: alice@local.test\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	got := e.st.blobContent(e.st.delivered()[0])
	if !strings.Contains(got, "with ESMTPA id ") || !strings.Contains(got, "(authenticated as alice@local.test)") {
		t.Errorf("Received:\n%s", got)
	}
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission, func(c *Config, d *Deps) { c.AllowInsecureAuth = true })
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	// RFC 4616 2: authzid must match authcid.
	r.cmd("AUTH PLAIN "+b64("bob@local.test\x00alice@local.test\x00"+alicePass), "535 5.7.8")
	r.cmd("AUTH PLAIN "+b64("alice@local.test\x00"+alicePass), "501 5.5.2")
	r.cmd("AUTH PLAIN "+b64("\x00alice@local.test\x00wrong"), "421 4.7.0")
	if !r.closed() {
		t.Error("connection open after 3 failures")
	}
	if !strings.Contains(e.logs.String(), "auth failed") || strings.Contains(e.logs.String(), "wrong") {
		t.Errorf("auth log wrong (failures logged, passwords never):\n%s", e.logs.String())
	}
}

// TestAuthLimiterShared: failures counted elsewhere (IMAP, other
// connections) refuse AUTH here with 421 and close.
func TestAuthLimiterShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission, func(c *Config, d *Deps) { c.AllowInsecureAuth = true })
	for range 20 {
		a, _, err := e.limiter.Reserve(context.Background(), netip.MustParseAddr("127.0.0.1"), "alice@local.test")
		if err != nil {
			t.Fatal(err)
		}
		a.Failed()
	}
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("AUTH PLAIN "+b64("\x00alice@local.test\x00"+alicePass), "421 4.7.0")
	if !r.closed() {
		t.Error("connection open")
	}
}

func TestAuthDialogue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission, func(c *Config, d *Deps) { c.AllowInsecureAuth = true })
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("AUTH CRAM-MD5", "504")
	r.cmd("AUTH LOGIN", "334 "+b64("Username:"))
	r.cmd("*", "501")
	r.cmd("AUTH PLAIN", "334")
	r.cmd(b64("\x00alice@local.test\x00"+alicePass), "235")
	r.cmd("AUTH PLAIN "+b64("\x00alice@local.test\x00"+alicePass), "503") // RFC 4954 4: second AUTH
	r.cmd("MAIL FROM:<alice@local.test>", "250")
	r.cmd("QUIT", "221")
	// AUTH inside a transaction.
	e2 := newEnv(t, MX)
	r = e2.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("AUTH PLAIN "+b64("\x00alice@local.test\x00"+alicePass), "502")
}

func TestSubmissionSenderPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission)
	tests := []struct {
		user, pass, from string
		ok               bool
	}{
		{"alice@local.test", alicePass, "alice@local.test", true},
		{"alice@local.test", alicePass, "Alice@LOCAL.test", true},
		{"alice@local.test", alicePass, "alice+list@local.test", true},
		{"alice@local.test", alicePass, "sales@local.test", true}, // alias of alice
		{"alice@local.test", alicePass, "team@local.test", true},  // group alias including alice
		{"alice@local.test", alicePass, "", true},                 // MDNs (RFC 8098)
		{"alice@local.test", alicePass, "bob@local.test", false},
		{"alice@local.test", alicePass, "someone@ext.test", false},
		{"alice@local.test", alicePass, "postmaster@local.test", false}, // fallback, not an alias
		{"bob@local.test", bobPass, "random@alias.test", false},         // catch-all
		{"bob@local.test", bobPass, "fwd@local.test", false},
	}
	for _, tc := range tests {
		c := e.login(tc.user, tc.pass)
		err := c.Mail(tc.from, nil)
		if tc.ok && err != nil || !tc.ok && (code(err) != 553 || enhanced(err) != "5.7.1") {
			t.Errorf("%s as <%s>: %v", tc.user, tc.from, err)
		}
	}
}

func TestSubmissionFromHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, SubmissionTLS)
	c := e.login("alice@local.test", alicePass)
	tests := []struct {
		header string
		code   int
	}{
		{"From: Alice <alice@local.test>\r\n", 0},
		{"From: =?iso-8859-2?q?Al=EDce?= <sales@local.test>\r\n", 0},
		{"From: alice@local.test, Sales <sales@local.test>\r\n", 0},
		{"From: Bob <bob@local.test>\r\n", 553},
		{"From: alice@local.test, bob@local.test\r\n", 553},
		{"FROM:\r\n <bob@local.test>\r\n", 553},
		{"From: Alice <alice@local.test>\r\nFrom: bob@local.test\r\n", 550},
		{"From: alice@local.test\r\nFrom: sales@local.test\r\n", 550}, // RFC 5322 3.6: one From
		{"Subject: no from\r\n", 550},
		{"From: not an address\r\n", 550},
		// Issue 19 item 1: a line that is not a field is refused, not skipped.
		{"From : bob@local.test\r\nFrom: alice@local.test\r\n", 554},
		{"From bob@local.test\r\nFrom: alice@local.test\r\n", 554},
		// Sender and Resent-From are checked as From is.
		{"From: alice@local.test\r\nSender: sales@local.test\r\n", 0},
		{"From: alice@local.test\r\nSender: bob@local.test\r\n", 553},
		{"From: alice@local.test\r\nSender: a@local.test\r\nSender: alice@local.test\r\n", 550},
		{"From: alice@local.test\r\nResent-From: alice@local.test\r\n", 0},
		{"From: alice@local.test\r\nResent-From: bob@local.test\r\n", 553},
		{"From: alice@local.test\r\nResent-Sender: Bob <bob@local.test>\r\n", 553},
		{"From: alice@local.test\r\nResent-From: alice@local.test\r\nResent-From: bob@local.test\r\n", 553},
		// Issue 19 item 11: a display name that is someone else's address.
		{"From: \"bob@local.test\" <alice@local.test>\r\n", 553},
		{"From: =?utf-8?q?bob=40local.test?= <alice@local.test>\r\n", 553},
		{"From: \"bob@local.test via Alice\" <alice@local.test>\r\n", 553},
		{"From: \"sales@local.test\" <alice@local.test>\r\n", 0},
		{"From: alice@local.test\r\nSender: \"bob@local.test\" <alice@local.test>\r\n", 553},
	}
	for _, tc := range tests {
		err := send(c, "alice@local.test", []string{"bob@local.test"}, tc.header+"Subject: t\r\n\r\nbody\r\n")
		if code(err) != tc.code {
			t.Errorf("%q: %v, want %d", tc.header, err, tc.code)
		}
	}
}

func TestSubmissionQueuesRemote(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission)
	c := e.login("alice@local.test", alicePass)
	if err := c.Mail("alice@local.test", &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "env-1", Body: smtp.Body8BitMIME}); err != nil {
		t.Fatal(err)
	}
	rcpts := []struct {
		to   string
		opts *smtp.RcptOptions
	}{
		{"far@ext.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed},
			OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "orig@ext.test"}},
		{"Far@Ext.Test", nil},
		{"other@ext2.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}}},
		{"bob@local.test", nil},
		{"fwd@local.test", nil},
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r.to, r.opts); err != nil {
			t.Fatalf("RCPT %s: %v", r.to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: Alice <alice@local.test>\r\nSubject: out\r\n\r\nbody\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds := e.st.delivered()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	d := ds[0]
	if len(d.Local) != 1 || d.Local[0].AccountID != 2 {
		t.Errorf("local: %+v", d.Local)
	}
	out := d.Remote
	if out == nil || out.From != "alice@local.test" || out.RET != "HDRS" || out.EnvID != "env-1" || !out.Body8Bit || out.SMTPUTF8 || out.AccountID != 1 {
		t.Fatalf("outbound: %+v", out)
	}
	// fwd@local.test expands to far@ext.test, already a recipient.
	want := []string{"far@ext.test|RFC822;orig@ext.test|FAILURE,DELAY", "Far@ext.test||", "other@ext2.test||NEVER"}
	var got []string
	for _, r := range out.Rcpts {
		got = append(got, r.Addr+"|"+r.ORCPT+"|"+r.Notify)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rcpts:\n got %q\nwant %q", got, want)
	}
	msg := e.st.blobContent(d)
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	if strings.Count(hdr, "\r\nDate: ") != 1 || strings.Count(hdr, "\r\nMessage-ID: <") != 1 || !strings.Contains(hdr, "@mx.local.test>") {
		t.Errorf("Date/Message-ID not added once:\n%s", hdr)
	}
}

func TestSubmissionKeepsDateAndMessageID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Submission)
	c := e.login("alice@local.test", alicePass)
	msg := "From: alice@local.test\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nmessage-id: <a@b>\r\n\r\nx\r\n"
	if err := send(c, "alice@local.test", []string{"x@ext.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := e.st.blobContent(e.st.delivered()[0])
	if strings.Count(got, "Date:") != 1 || strings.Count(strings.ToLower(got), "message-id:") != 1 {
		t.Errorf("duplicated fields:\n%s", got)
	}
}

type fakeSigner struct{ got *Outgoing }

func (f *fakeSigner) Sign(ctx context.Context, m *Outgoing) ([]byte, error) {
	f.got = m
	return []byte("DKIM-Signature: v=1; d=" + m.FromDomain + "\r\n"), nil
}

func TestSignerHook(t *testing.T) {
	t.Parallel()
	sg := &fakeSigner{}
	e := newEnv(t, Submission, func(c *Config, d *Deps) { d.Signer = sg })
	c := e.login("alice@local.test", alicePass)
	if err := send(c, "alice@local.test", []string{"x@ext.test", "bob@local.test"}, "From: sales@local.test\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	d := e.st.delivered()[0]
	if string(d.Remote.Prefix) != "DKIM-Signature: v=1; d=local.test\r\n" {
		t.Errorf("prefix %q", d.Remote.Prefix)
	}
	if sg.got.Account != "alice@local.test" || sg.got.FromDomain != "local.test" {
		t.Errorf("signer got %+v", sg.got)
	}
	if strings.Contains(string(d.Local[0].Prefix), "DKIM") {
		t.Error("signature in local copy")
	}
}

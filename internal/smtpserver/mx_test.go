package smtpserver

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
)

func TestMXDeliversLocally(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	c := e.dial(false)
	if err := send(c, "sender@ext.test", []string{"alice@local.test"}, simpleMsg); err != nil {
		t.Fatal(err)
	}
	ds := e.st.delivered()
	if len(ds) != 1 || len(ds[0].Local) != 1 || ds[0].Remote != nil {
		t.Fatalf("deliveries: %+v", ds)
	}
	d := ds[0]
	got := e.st.content(d, d.Local[0])
	for _, want := range []string{
		"Return-Path: <sender@ext.test>\r\nDelivered-To: alice@local.test\r\nReceived: from client.test ([127.0.0.1])\r\n\tby mx.local.test (kantorpos) with ESMTP id ",
		"\r\n\tfor <alice@local.test>;\r\n\t",
		"\r\nFrom: Sender <sender@ext.test>\r\nTo: alice@local.test\r\nSubject: hello\r\n\r\nHello, Alice.\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Message-ID") || strings.Contains(got, "\r\nDate:") {
		t.Errorf("MX must not add Date or Message-ID:\n%s", got)
	}
	if d.Meta == nil || d.Meta.Subject != "hello" || !strings.Contains(d.Meta.From, "sender@ext.test") {
		t.Errorf("meta %+v", d.Meta)
	}
	if d.ReceivedAt.IsZero() || d.Blob.Size != int64(len(got)-len(d.Local[0].Prefix)) {
		t.Errorf("delivery %+v", d)
	}
	if !strings.Contains(e.logs.String(), "event=received") {
		t.Errorf("no mail event in log")
	}
}

func TestMXReplyCarriesID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<s@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	r.cmd("DATA", "354")
	got := r.cmd("Subject: x\r\n\r\nbody\r\n.", "250 2.0.0 OK id=")
	id := strings.TrimSpace(strings.TrimPrefix(got, "250 2.0.0 OK id="))
	d := e.st.delivered()[0]
	if !strings.Contains(e.st.blobContent(d), " id "+id+"\r\n") {
		t.Errorf("id %q not in Received:\n%s", id, e.st.blobContent(d))
	}
}

func TestMXSenders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	for _, from := range []string{"", "someone@ext.test", "bob@local.test", "postmaster@local.test"} {
		c := e.dial(false)
		if err := send(c, from, []string{"alice@local.test"}, simpleMsg); err != nil {
			t.Errorf("from <%s>: %v", from, err)
		}
	}
	ds := e.st.delivered()
	if len(ds) != 4 {
		t.Fatalf("%d deliveries", len(ds))
	}
	if got := string(ds[0].Local[0].Prefix); !strings.HasPrefix(got, "Return-Path: <>\r\n") {
		t.Errorf("null sender prefix %q", got)
	}
}

// TestRelayMatrix: every non-local recipient, with every sender, is refused
// on the MX (security.md 1.5, issue 3 item 1).
func TestRelayMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	senders := []string{"<x@ext.test>", "<>", "<postmaster@local.test>", "<alice@local.test>"}
	rcpts := []struct {
		rcpt string
		code string
	}{
		{"<v@ext2.test>", "554 5.7.1"},
		{"<V@EXT2.TEST>", "554 5.7.1"},
		{`<"v@ext2.test">`, "501 5.5.2"}, // go-smtp refuses the path syntax before us
		{`<"v@ext2.test"@local.test>`, "554 5.7.1"},
		{"<v%ext2.test@local.test>", "554 5.7.1"},
		{"<@local.test:v@ext2.test>", "554 5.7.1"}, // go-smtp drops the source route
		{"<@local.test,@x.test:v@ext2.test>", "554 5.7.1"},
		{"<ext2.test!v@local.test>", "554 5.7.1"},
		{"<v@ext2.test@local.test>", "554 5.7.1"},
		{"<v@[127.0.0.1]>", "554 5.7.1"},
		{"<v@[IPv6:::1]>", "554 5.7.1"},
		{"<v@local.test.ext2.test>", "554 5.7.1"},
		{"<v@localhost>", "554 5.7.1"},
	}
	for _, from := range senders {
		r := e.raw()
		r.cmd("EHLO client.test", "250")
		for _, rc := range rcpts {
			r.cmd("MAIL FROM:"+from, "250")
			got := r.cmd("RCPT TO:"+rc.rcpt, "")
			if !strings.HasPrefix(got, rc.code) {
				t.Errorf("from %s rcpt %s: %q, want %s", from, rc.rcpt, got, rc.code)
			}
			r.cmd("RSET", "250")
		}
		r.cmd("QUIT", "221")
	}
	if n := len(e.st.delivered()); n != 0 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestMXRecipients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	tests := []struct {
		rcpt, want string
	}{
		{"alice@local.test", "250"},
		{"ALICE@LOCAL.TEST", "250"},
		{"alice+news@local.test", "250"},
		{"sales@local.test", "250"},
		{"postmaster@local.test", "250"},
		{"PostMaster@alias.test", "250"},
		{"anyone@alias.test", "250"},
		{"fwd@local.test", "250"}, // alias to a remote target: forwarded
		{"nobody@local.test", "550 5.1.1"},
		{"loop@local.test", "550 5.4.6"},
		{"a b@local.test", "501"},
		{"ünï@local.test", "553 5.6.7"}, // no SMTPUTF8 on MAIL
	}
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<s@ext.test>", "250")
	for _, tc := range tests {
		if got := r.cmd("RCPT TO:<"+tc.rcpt+">", ""); !strings.HasPrefix(got, tc.want) {
			t.Errorf("RCPT %s: %q, want %s", tc.rcpt, got, tc.want)
		}
	}
}

// TestOneBlobManyRecipients: a message for several local recipients is
// stored once; recipients reaching the same account get one copy.
func TestOneBlobManyRecipients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	c := e.dial(false)
	rcpts := []string{"alice@local.test", "bob@local.test", "sales@local.test", "Alice+x@local.test", "team@local.test"}
	if err := send(c, "s@ext.test", rcpts, simpleMsg); err != nil {
		t.Fatal(err)
	}
	ds := e.st.delivered()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	d := ds[0]
	if len(d.Local) != 2 {
		t.Errorf("local deliveries: %+v", d.Local)
	}
	if d.Remote == nil || len(d.Remote.Rcpts) != 1 || d.Remote.Rcpts[0].Addr != "friend@ext.test" || d.Remote.Rcpts[0].ORCPT != "rfc822;team@local.test" {
		t.Errorf("remote: %+v", d.Remote)
	}
	if d.Remote.From != "s@ext.test" || d.Remote.AccountID != 0 {
		t.Errorf("outbound %+v", d.Remote)
	}
	if strings.Contains(e.st.blobContent(d), "\tfor <") {
		t.Errorf("Received names a recipient of a multi-recipient message")
	}
}

func TestMXNoAuthAndSTARTTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	got := r.cmd("EHLO client.test", "250")
	if !strings.Contains(got, "STARTTLS") || strings.Contains(got, "AUTH") {
		t.Errorf("EHLO: %q", got)
	}
	r.cmd("AUTH PLAIN AGFsaWNlQGxvY2FsLnRlc3QAYWxpY2UtcGFzc3dvcmQtMQ==", "502 5.5.1")
	// Over TLS, still no AUTH.
	c := e.dial(true)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered on the MX over TLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@local.test", alicePass)); code(err) != 502 {
		t.Errorf("AUTH on MX: %v", err)
	}
	if err := send(c, "s@ext.test", []string{"alice@local.test"}, simpleMsg); err != nil {
		t.Fatal(err)
	}
	got = e.st.blobContent(e.st.delivered()[0])
	if !regexp.MustCompile(`with ESMTPS id \w+\r\n\t\(TLS 1\.3 cipher TLS_\w+\)\r\n\tfor <alice@local.test>\r\n\ttls TLS_\w+;`).MatchString(got) {
		t.Errorf("Received without TLS details:\n%s", got)
	}
}

func TestEHLOExtensions(t *testing.T) {
	t.Parallel()
	for _, kind := range []Kind{MX, Submission, SubmissionTLS} {
		e := newEnv(t, kind)
		c := e.dial(kind != SubmissionTLS)
		for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE", "CHUNKING", "DSN"} {
			if ok, _ := c.Extension(ext); !ok {
				t.Errorf("%v: %s not advertised", kind, ext)
			}
		}
		if _, p := c.Extension("SIZE"); p != fmt.Sprint(DefaultConfig.MaxMessageSize) {
			t.Errorf("%v: SIZE %q", kind, p)
		}
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Errorf("%v: STARTTLS offered inside TLS", kind)
		}
		if ok, p := c.Extension("AUTH"); ok != kind.IsSubmission() || ok && p != "PLAIN LOGIN" {
			t.Errorf("%v: AUTH %v %q", kind, ok, p)
		}
	}
	e := newEnv(t, MX)
	c := e.dial(false)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered on plaintext MX")
	}
}

// TestMailLoop: more Received fields than MaxReceived is a loop (RFC 5321 6.3).
func TestMailLoop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	c := e.dial(false)
	hops := func(n int) string {
		return strings.Repeat("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n", n)
	}
	if err := send(c, "s@ext.test", []string{"alice@local.test"}, hops(31)+simpleMsg); code(err) != 554 || enhanced(err) != "5.4.6" {
		t.Fatalf("31 hops: %v", err)
	}
	if err := send(c, "s@ext.test", []string{"alice@local.test"}, hops(30)+simpleMsg); err != nil {
		t.Fatalf("30 hops: %v", err)
	}
	if n := len(e.st.delivered()); n != 1 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestVRFYAndEXPN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("VRFY alice", "252")
	r.cmd("VRFY nobody@local.test", "252")
	r.cmd("EXPN team", "502")
}

package filter_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

var ctx = context.Background()

// pair is our server (example.test) and a remote one (r.test) that our
// queue delivers to, on one loopback DNS.
type pair struct {
	e, r    *testenv.Env
	bob     store.Account // ours, with the scripts
	amy     store.Account // ours, a colleague
	rem     store.Account // on r.test
	sender  string
	inboxOf func(e *testenv.Env, acc store.Account, mailbox string) []string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	dns := dnstest.New(t)
	r := testenv.Start(t, testenv.Options{Hostname: "mx.r.test", DNS: dns})
	_, port, _ := net.SplitHostPort(r.Addr["smtp"])
	p, _ := strconv.Atoi(port)
	dns.Add(t, "r.test. MX 10 mx.r.test.", "mx.r.test. A 127.0.0.1")
	e := testenv.Start(t, testenv.Options{DNS: dns, Configure: func(c *config.Config) { c.Queue.Port = p }})
	return &pair{e: e, r: r,
		bob:    e.AddUser(t, "bob@example.test", "bob password"),
		amy:    e.AddUser(t, "amy@example.test", "amy password"),
		rem:    r.AddUser(t, "rem@r.test", "rem password"),
		sender: "rem@r.test",
	}
}

// script stores and activates bob's script.
func (p *pair) script(t *testing.T, src string) {
	t.Helper()
	if err := p.e.Store.PutSieveScript(ctx, p.bob.ID, "rules", src); err != nil {
		t.Fatal(err)
	}
	if err := p.e.Store.ActivateSieveScript(ctx, p.bob.ID, "rules"); err != nil {
		t.Fatal(err)
	}
}

// send sends one message over SMTP to our MX.
func send(t *testing.T, addr, from string, to []string, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// messages returns the full messages in a folder of an account.
func messages(t *testing.T, e *testenv.Env, acc store.Account, mailbox string) []store.Message {
	t.Helper()
	mb, err := e.Store.Mailbox(ctx, acc.ID, mailbox)
	if err != nil {
		t.Fatalf("mailbox %s: %v", mailbox, err)
	}
	msgs, err := e.Store.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func contents(t *testing.T, e *testenv.Env, acc store.Account, mailbox string) []string {
	t.Helper()
	msgs := messages(t, e, acc, mailbox)
	var out []string
	for i := range msgs {
		c, err := e.Store.OpenMessage(ctx, &msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		out = append(out, string(b))
	}
	return out
}

func waitCount(t *testing.T, e *testenv.Env, acc store.Account, mailbox string, n int) []string {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, mailbox+" of "+acc.Address+" holding "+strconv.Itoa(n), func() bool {
		return len(messages(t, e, acc, mailbox)) >= n
	})
	return contents(t, e, acc, mailbox)
}

func TestFileintoCreateAndFlags(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.script(t, `require ["fileinto", "mailbox", "imap4flags", "variables", "subaddress", "envelope"];
if header :contains "subject" "report" {
	fileinto :create :flags ["\\Flagged", "$Report"] "Reports";
} elsif envelope :detail "to" "lists" {
	fileinto :create "Lists";
}`)
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: the weekly report\n\nnumbers\n")
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob+lists@example.test"}, "From: x@r.test\nSubject: list mail\n\nhi\n")
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: lunch?\n\nhi\n")
	rep := messages(t, p.e, p.bob, "Reports")
	if len(rep) != 1 || !slices.Contains(rep[0].Flags, `\Flagged`) || !slices.Contains(rep[0].Flags, "$Report") {
		t.Fatalf("Reports = %+v", rep)
	}
	if l := contents(t, p.e, p.bob, "Lists"); len(l) != 1 || !strings.Contains(l[0], "list mail") {
		t.Fatalf("Lists = %q", l)
	}
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 1 || !strings.Contains(in[0], "lunch?") {
		t.Fatalf("INBOX = %q", in)
	}
	// amy has no script: her copy of a shared message is untouched.
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test", "amy@example.test"}, "From: x@r.test\nSubject: report two\n\nx\n")
	if len(contents(t, p.e, p.amy, "INBOX")) != 1 || len(messages(t, p.e, p.bob, "Reports")) != 2 {
		t.Fatal("a shared message was not filed per recipient")
	}
}

// A script that fails at run time files the message into INBOX and
// records the error for the user page; a good run clears it.
func TestScriptErrorKeepsInInbox(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.script(t, `require ["include", "fileinto"]; if header :contains "subject" "boom" { include "missing"; } fileinto "Elsewhere";`)
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: boom\n\nx\n")
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 1 || !strings.Contains(in[0], "Subject: boom") {
		t.Fatalf("INBOX = %q", in)
	}
	sc, err := p.e.Store.SieveScript(ctx, p.bob.ID, "rules")
	if err != nil || !strings.Contains(sc.LastError, "missing") {
		t.Fatalf("script error not recorded: %+v, %v", sc, err)
	}
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: fine\n\nx\n")
	if sc, _ := p.e.Store.SieveScript(ctx, p.bob.ID, "rules"); sc.LastError != "" {
		t.Fatalf("a good run did not clear the error: %q", sc.LastError)
	}
	// The store falls back to INBOX for a folder that does not exist.
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 2 {
		t.Fatalf("INBOX holds %d", len(in))
	}
	// A script that no longer parses (stored before a change) also keeps.
	p.script(t, `frobnicate;`)
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: third\n\nx\n")
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 3 {
		t.Fatalf("INBOX holds %d after a parse error", len(in))
	}
}

func TestDiscardAndLocalRedirect(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.script(t, `if header :is "subject" "spam" { discard; stop; }
redirect "amy@example.test";`)
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: spam\n\nx\n")
	send(t, p.e.Addr["smtp"], "x@r.test", []string{"bob@example.test"}, "From: x@r.test\nSubject: for amy\n\nx\n")
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 0 {
		t.Fatalf("bob's INBOX = %q", in)
	}
	in := contents(t, p.e, p.amy, "INBOX")
	if len(in) != 1 || !strings.Contains(in[0], "Delivered-To: amy@example.test") || !strings.Contains(in[0], "Return-Path: <x@r.test>") {
		t.Fatalf("amy's INBOX = %q", in)
	}
}

// Redirect to another domain leaves through the queue with the sender
// rewritten by SRS; a bounce to the rewritten address reaches the original
// sender, a forged one is refused.
func TestRemoteRedirectSRS(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	orig := p.r.AddUser(t, "orig@r.test", "orig password")
	p.script(t, `require "copy"; redirect :copy "rem@r.test";`)
	send(t, p.e.Addr["smtp"], "orig@r.test", []string{"bob@example.test"}, "From: orig@r.test\nSubject: pass it on\n\nx\n")
	got := waitCount(t, p.r, p.rem, "INBOX", 1)
	if !strings.Contains(got[0], "Subject: pass it on") || !strings.Contains(got[0], "Return-Path: <SRS0=") ||
		!strings.Contains(got[0], "=r.test=orig@example.test>") {
		t.Fatalf("forwarded = %q", got[0])
	}
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 1 {
		t.Fatalf(":copy kept %d", len(in))
	}
	rp := got[0][strings.Index(got[0], "<SRS0=")+1:]
	rp = rp[:strings.IndexByte(rp, '>')]
	// The bounce R would send: null sender, to the rewritten address.
	send(t, p.e.Addr["smtp"], "", []string{rp}, "From: MAILER-DAEMON@r.test\nSubject: Undelivered\n\nbounce\n")
	back := waitCount(t, p.r, orig, "INBOX", 1)
	if !strings.Contains(back[0], "Subject: Undelivered") || !strings.Contains(back[0], "Return-Path: <>") {
		t.Fatalf("bounce = %q", back[0])
	}
	c, err := smtp.Dial(p.e.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(rp, "=orig@", "=victim@", 1)
	if err := c.Rcpt(forged, nil); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("RCPT TO a forged SRS address: %v", err)
	}
}

// Vacation: one reply per sender and period, none to lists, bulk mail,
// auto-replies or <> (RFC 3834, RFC 5230).
func TestVacation(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.script(t, `require "vacation"; vacation :days 7 :subject "Away" "Back on Monday.";`)
	mx := p.e.Addr["smtp"]
	send(t, mx, "rem@r.test", []string{"bob@example.test"}, "From: rem@r.test\nTo: bob@example.test\nSubject: hello\nMessage-ID: <m1@r.test>\n\nx\n")
	got := waitCount(t, p.r, p.rem, "INBOX", 1)
	for _, want := range []string{"Subject: Away", "Auto-Submitted: auto-replied", "In-Reply-To: <m1@r.test>",
		"Back on Monday.", "Return-Path: <>", "From: <bob@example.test>"} {
		if !strings.Contains(got[0], want) {
			t.Fatalf("reply lacks %q:\n%s", want, got[0])
		}
	}
	for _, hdr := range []string{"", "Precedence: bulk\n", "List-Id: <l.r.test>\n", "Auto-Submitted: auto-generated\n"} {
		send(t, mx, "rem@r.test", []string{"bob@example.test"}, "From: rem@r.test\nTo: bob@example.test\n"+hdr+"Subject: again\n\nx\n")
	}
	send(t, mx, "", []string{"bob@example.test"}, "From: rem@r.test\nTo: bob@example.test\nSubject: bounce\n\nx\n")
	// Bcc'd (bob not in To/Cc): no reply either; another sender gets one.
	p.r.AddUser(t, "other@r.test", "other password")
	send(t, mx, "other@r.test", []string{"bob@example.test"}, "From: other@r.test\nTo: list@example.test\nSubject: bcc\n\nx\n")
	send(t, mx, "other@r.test", []string{"bob@example.test"}, "From: other@r.test\nCc: Bob <BOB@example.test>\nSubject: cc\n\nx\n")
	other, _ := p.r.Store.Account(ctx, "other@r.test")
	waitCount(t, p.r, other, "INBOX", 1)
	// Every message was kept, and the queue is empty: nothing else is coming.
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 8 {
		t.Fatalf("bob's INBOX holds %d", len(in))
	}
	testenv.WaitFor(t, 10*time.Second, "an empty queue", func() bool {
		q, err := p.e.Store.QueueEntries(ctx, store.QueueFilter{})
		return err == nil && len(q) == 0
	})
	if n := len(messages(t, p.r, p.rem, "INBOX")); n != 1 {
		t.Fatalf("rem got %d replies, want 1", n)
	}
	if n := len(messages(t, p.r, other, "INBOX")); n != 1 {
		t.Fatalf("other got %d replies, want 1", n)
	}
	// After the period, the same sender is answered again.
	p.e.Clock.Advance(8 * 24 * time.Hour)
	send(t, mx, "rem@r.test", []string{"bob@example.test"}, "From: rem@r.test\nTo: bob@example.test\nSubject: a week later\n\nx\n")
	waitCount(t, p.r, p.rem, "INBOX", 2)
}

// reject: with one recipient the SMTP server refuses the message (550
// with the reason); with several, the rejecting recipient's copy is not
// stored and the sender gets a refusal (an MDN), never <>.
func TestReject(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.script(t, "require \"reject\"; if header :contains \"subject\" \"offer\" { reject \"No offers,\r\nthanks. Grüße\"; }")
	c, err := smtp.Dial(p.e.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("rem@r.test", []string{"bob@example.test"}, strings.NewReader("From: rem@r.test\r\nSubject: special offer\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "No offers, thanks. Gr????e") {
		t.Fatalf("single recipient: %v, want 550 with the reason", err)
	}
	send(t, p.e.Addr["smtp"], "rem@r.test", []string{"bob@example.test", "amy@example.test"},
		"From: rem@r.test\nSubject: special offer\nMessage-ID: <o1@r.test>\n\nx\n")
	got := waitCount(t, p.r, p.rem, "INBOX", 1)
	for _, want := range []string{"No offers,", "Disposition: automatic-action/MDN-sent-automatically; deleted",
		"Original-Message-ID: <o1@r.test>", "Return-Path: <>"} {
		if !strings.Contains(got[0], want) {
			t.Fatalf("refusal lacks %q:\n%s", want, got[0])
		}
	}
	if in := contents(t, p.e, p.bob, "INBOX"); len(in) != 0 {
		t.Fatalf("rejected mail kept: %q", in)
	}
	if in := contents(t, p.e, p.amy, "INBOX"); len(in) != 1 {
		t.Fatalf("amy's copy: %d", len(in))
	}
	// Injected mail (no SMTP client to answer) is refused by a message too,
	// and a refusal never goes to <>.
	res, err := p.e.Server.Injector.Inject(ctx, "", []string{"bob@example.test"}, []byte("Subject: offer\r\n\r\nx\r\n"))
	if err != nil || res.Local != 0 {
		t.Fatalf("inject: %+v, %v", res, err)
	}
}

// Mail the server writes itself (DSNs, through the injector) runs the
// recipient's script too.
func TestInjectedMailIsFiltered(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.script(t, `require ["fileinto", "mailbox"]; if header :is "auto-submitted" "auto-replied" { fileinto :create "Auto"; }`)
	msg := "From: MAILER-DAEMON@mx.example.test\r\nTo: bob@example.test\r\nAuto-Submitted: auto-replied\r\nSubject: Delivery Status Notification\r\n\r\nx\r\n"
	res, err := p.e.Server.Injector.Inject(ctx, "", []string{"bob@example.test"}, []byte(msg))
	if err != nil || res.Local != 1 {
		t.Fatalf("inject: %+v, %v", res, err)
	}
	if got := contents(t, p.e, p.bob, "Auto"); len(got) != 1 || !strings.Contains(got[0], "Delivery Status Notification") {
		t.Fatalf("Auto = %q", got)
	}
}

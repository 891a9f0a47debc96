package server_test

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

var ctx = context.Background()

func send(t *testing.T, c *smtp.Client, from string, to []string, msg string) error {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, msg)
	return w.Close()
}

// inboxContents returns the messages of an account's INBOX.
func inboxContents(t *testing.T, e *testenv.Env, accountID int64) []string {
	t.Helper()
	msgs, err := e.Store.FetchMessages(ctx, e.Inbox(t, accountID).ID, store.AllUIDs, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
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

func TestMXDeliversAndNeverRelays(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) { c.SMTP.CheckAuthentication = true }})
	bob := e.AddUser(t, "bob@example.test", "bob's password")
	c, err := smtp.DialStartTLS(e.Addr["smtp"], e.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Hello("client.ext.test")
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered on the MX")
	}
	forged := "Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n"
	msg := forged + "From: a@ext.test\r\nTo: bob@example.test\r\nSubject: hi\r\n\r\nhello bob\r\n"
	if err := send(t, c, "a@ext.test", []string{"BOB+news@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := inboxContents(t, e, bob.ID)
	if len(got) != 1 {
		t.Fatalf("INBOX has %d messages", len(got))
	}
	m := got[0]
	for _, want := range []string{"Return-Path: <a@ext.test>", "Delivered-To: BOB+news@example.test", "Received: from client.ext.test",
		"Authentication-Results: mx.example.test;", "hello bob"} {
		if !strings.Contains(m, want) {
			t.Errorf("stored message lacks %q:\n%s", want, m)
		}
	}
	if strings.Contains(m, "dkim=pass header.d=example.test") {
		t.Errorf("forged Authentication-Results kept:\n%s", m)
	}
	// postmaster@ reaches the domain's first account.
	if err := send(t, c, "", []string{"Postmaster@example.test"}, "From: MAILER-DAEMON@ext.test\r\nSubject: pm\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("postmaster: %v", err)
	}
	if err := c.Mail("a@ext.test", nil); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("victim@other.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 554 {
		t.Fatalf("relay attempt: %v, want 554", err)
	}
	err = c.Rcpt("nobody@example.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Fatalf("unknown user: %v, want 550 5.1.1", err)
	}
}

func TestSubmissionQueuesSignedMail(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	amy := e.AddUser(t, "amy@example.test", "amy's password")
	bob := e.AddUser(t, "bob@example.test", "bob's password")
	e.DNS.ServFail("remote.test", true) // the entry stays queued (deferred)
	c, err := smtp.DialTLS(e.Addr["submissions"], e.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("amy@example.test", nil); err == nil {
		t.Fatal("MAIL before AUTH accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", "amy@example.test", "amy's password")); err != nil {
		t.Fatal(err)
	}
	msg := "From: Amy <amy@example.test>\r\nTo: x@remote.test, bob@example.test\r\nSubject: out\r\n\r\nhello\r\n"
	if err := send(t, c, "amy@example.test", []string{"x@remote.test", "bob@example.test"}, msg); err != nil {
		t.Fatal(err)
	}
	q, err := e.Store.QueueEntries(ctx, store.QueueFilter{})
	if err != nil || len(q) != 1 || q[0].Domain != "remote.test" || q[0].From != "amy@example.test" || q[0].AccountID != amy.ID {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	if n := strings.Count(string(q[0].Prefix), "DKIM-Signature:"); n != 2 {
		t.Fatalf("queued message has %d DKIM signatures, want 2:\n%s", n, q[0].Prefix)
	}
	got := inboxContents(t, e, bob.ID)
	if len(got) != 1 || !strings.Contains(got[0], "Message-ID: <") || !strings.Contains(got[0], "Date: ") {
		t.Fatalf("local copy: %q", got)
	}
	// Another account's address as sender is refused.
	err = c.Mail("bob@example.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 553 {
		t.Fatalf("foreign sender: %v, want 553", err)
	}
}

// The "done means": swaks delivers into the INBOX.
func TestSwaksDelivers(t *testing.T) {
	t.Parallel()
	swaks := testenv.NeedCommand(t, "swaks", "swaks")
	e := testenv.Start(t, testenv.Options{})
	demo := e.AddUser(t, "demo@example.test", "demo password")
	out, err := exec.Command(swaks, "--to", "demo@example.test", "--from", "someone@ext.test",
		"--server", e.Addr["smtp"], "--header", "Subject: swaks test").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	got := inboxContents(t, e, demo.ID)
	if len(got) != 1 || !strings.Contains(got[0], "Subject: swaks test") {
		t.Fatalf("INBOX = %q", got)
	}
	out, err = exec.Command(swaks, "--to", "victim@elsewhere.test", "--from", "someone@ext.test",
		"--server", e.Addr["smtp"]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "554") {
		t.Fatalf("relay through swaks not refused:\n%s", out)
	}
}

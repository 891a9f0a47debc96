package server_test

import (
	"crypto/tls"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/testenv"
)

// Mail received over SMTP is downloaded and deleted over POP3 (995), and
// the deletion shows in the store.
func TestSMTPThenPOP3(t *testing.T) {
	t.Parallel()
	smtpThenPOP3(t, testenv.Options{})
}

func smtpThenPOP3(t *testing.T, o testenv.Options) {
	e := testenv.Start(t, o)
	smtpThenPOP3On(t, e, e)
}

// smtpThenPOP3On sends through in's MX and downloads through out's POP3
// (the same server, or two nodes of a cluster).
func smtpThenPOP3On(t *testing.T, in, out *testenv.Env) {
	t.Helper()
	bob := in.AddUser(t, "bob@example.test", "bob's password")
	c, err := smtp.Dial(in.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"one", "two"} {
		if err := send(t, c, "a@ext.test", []string{"bob@example.test"}, "From: a@ext.test\r\nSubject: "+subj+"\r\n\r\n.dot line\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	conn, err := tls.Dial("tcp", out.Addr["pop3s"], out.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tp := textproto.NewConn(conn)
	cmd := func(line, wantPrefix string) string {
		t.Helper()
		if line != "" {
			tp.PrintfLine("%s", line)
		}
		l, err := tp.ReadLine()
		if err != nil || !strings.HasPrefix(l, wantPrefix) {
			t.Fatalf("%q: got %q, %v; want %q", line, l, err, wantPrefix)
		}
		return l
	}
	cmd("", "+OK")
	cmd("USER bob@example.test", "+OK")
	cmd("PASS bob's password", "+OK")
	cmd("STAT", "+OK 2 ")
	cmd("RETR 1", "+OK")
	body, err := tp.ReadDotLines()
	if err != nil || !strings.Contains(strings.Join(body, "\n"), "Subject: one") || body[len(body)-1] != ".dot line" {
		t.Fatalf("RETR 1 = %q, %v", body, err)
	}
	cmd("DELE 1", "+OK")
	cmd("QUIT", "+OK")
	st, err := out.Store.MailboxStatus(ctx, out.Inbox(t, bob.ID).ID)
	if err != nil || st.Messages != 1 {
		t.Fatalf("after DELE+QUIT: %d messages, %v", st.Messages, err)
	}
}

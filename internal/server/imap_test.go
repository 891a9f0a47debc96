package server_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/testenv"
)

// idleClient logs in over 993, selects INBOX and IDLEs; exists reports the
// last EXISTS count the server pushed.
func idleClient(t *testing.T, e *testenv.Env, user, pass string) (exists *atomic.Uint32, stop func()) {
	t.Helper()
	exists = &atomic.Uint32{}
	c, err := imapclient.DialTLS(e.Addr["imaps"], &imapclient.Options{TLSConfig: e.ClientTLS,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists.Store(*d.NumMessages)
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	exists.Store(sel.NumMessages)
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return exists, func() { idle.Close(); c.Logout().Wait(); c.Close() }
}

// The "done means": mail sent over SMTP shows in an IDLE-ing client
// at once, and SEARCH TEXT finds a word of its body.
func TestSMTPToIdleAndSearch(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.AddUser(t, "demo@example.test", "demo password")
	exists, stop := idleClient(t, e, "demo@example.test", "demo password")
	defer stop()
	c, err := smtp.Dial(e.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := send(t, c, "a@ext.test", []string{"demo@example.test"}, "From: a@ext.test\r\nSubject: idle\r\n\r\nthe quokka smiles\r\n"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	testenv.WaitFor(t, 5*time.Second, "EXISTS in the IDLE session", func() bool { return exists.Load() == 1 })
	t.Logf("SMTP DATA start to EXISTS in IDLE: %v", time.Since(start))

	c2, err := imapclient.DialTLS(e.Addr["imaps"], &imapclient.Options{TLSConfig: e.ClientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("demo@example.test", "demo password").Wait(); err != nil {
		t.Fatal(err)
	}
	// A folder made here is listed by the other client's view of the account.
	if err := c2.Create("Projects/Quokka", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c2.UIDSearch(&imap.SearchCriteria{Text: []string{"quokka"}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) != 1 {
		t.Fatalf("SEARCH TEXT quokka = %v, %v", data, err)
	}
	mbs, err := c2.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mbs {
		names = append(names, m.Mailbox)
	}
	if !strings.Contains(strings.Join(names, ","), "Projects/Quokka") {
		t.Fatalf("LIST = %v", names)
	}
}

package bench

// Smoke runs of every workload: they prove the tool still works against a
// real server. They assert only that a run completes and reports numbers,
// never how fast it was (benchmarks are not timed assertions).

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

const smokePassword = "bench-password"

// startKantorpos starts a whole kantorpos with users bench1..n.
func startKantorpos(t *testing.T, users int) *testenv.Env {
	t.Helper()
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) {
		c.Limits.MaxConnectionsPerIP = 1000
		c.SMTP.CheckAuthentication = false
		c.POP3.AllowInsecureAuth = true
		c.IMAP.AllowInsecureAuth = true
	}})
	for i := 1; i <= users; i++ {
		e.AddUser(t, fmt.Sprintf("bench%d@example.test", i), smokePassword)
	}
	return e
}

func positive(t *testing.T, r *Result, keys ...string) {
	t.Helper()
	t.Log(r)
	for _, k := range keys {
		if r.Float(k) <= 0 {
			t.Errorf("%s = %q in %s", k, r.Get(k), r)
		}
	}
}

func TestSmokeKantorposSMTPAndPOP3(t *testing.T) {
	t.Parallel()
	e := startKantorpos(t, 3)
	ctx := t.Context()
	for _, reuse := range []bool{false, true} {
		r, err := RunSMTP(ctx, SMTPOptions{Addr: e.Addr["smtp"], Sessions: 3, Messages: 12, Size: 2000, Reuse: reuse, Users: 3})
		if err != nil {
			t.Fatal(err)
		}
		positive(t, r, "messages", "msgs_per_s", "total_p50_ms", "data_p99_ms")
		if r.Get("messages") != "12" {
			t.Errorf("sent %s", r.Get("messages"))
		}
	}
	msgs, err := parseMbox(bytes.NewReader([]byte(smokeMbox)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Fill(ctx, FillOptions{Via: "smtp", Addr: e.Addr["smtp"], Messages: msgs, Count: 3, Users: 3})
	if err != nil {
		t.Fatal(err)
	}
	positive(t, r, "stored")
	r, err = RunPOP3(ctx, POP3Options{Addr: e.Addr["pop3"], Parallel: 2, Users: 3, Password: smokePassword})
	if err != nil {
		t.Fatal(err)
	}
	positive(t, r, "msgs_per_s", "MB_per_s", "login_p50_ms", "retr_p99_ms")
	if r.Get("msgs") != "33" { // 2 × 12 from RunSMTP + 3 × 3 from Fill
		t.Errorf("downloaded %s messages, want 33", r.Get("msgs"))
	}
}

// The IMAP workloads against kantorpos, once it has an IMAP listener.
func TestSmokeKantorposIMAP(t *testing.T) {
	t.Parallel()
	e := startKantorpos(t, 2)
	imapAddr, ok := e.Addr["imap"]
	if !ok {
		t.Skip("this kantorpos has no IMAP listener yet")
	}
	smokeIMAP(t, e.Addr["smtp"], imapAddr, MemTarget{PIDs: []int{os.Getpid()}})
}

// The IMAP workloads against go-imap's in-memory server, with a go-smtp
// server that files mail into it for the end-to-end run.
func TestSmokeMemoryServers(t *testing.T) {
	t.Parallel()
	mem := imapmemserver.New()
	for i := 1; i <= 2; i++ {
		u := imapmemserver.NewUser(fmt.Sprintf("bench%d@example.test", i), smokePassword)
		if err := u.Create("INBOX", nil); err != nil {
			t.Fatal(err)
		}
		mem.AddUser(u)
	}
	is := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	iln := listen(t)
	go is.Serve(iln)
	t.Cleanup(func() { is.Close() })

	ss := smtp.NewServer(&memSMTP{mem: mem})
	ss.Domain = "mx.example.test"
	sln := listen(t)
	go ss.Serve(sln)
	t.Cleanup(func() { ss.Close() })

	smokeIMAP(t, sln.Addr().String(), iln.Addr().String(), MemTarget{PIDs: []int{os.Getpid()}})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func smokeIMAP(t *testing.T, smtpAddr, imapAddr string, target MemTarget) {
	ctx := t.Context()
	msgs, err := parseMbox(bytes.NewReader([]byte(smokeMbox)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Fill(ctx, FillOptions{Via: "imap", Addr: imapAddr, Messages: msgs, Count: 20, Users: 2, Password: smokePassword})
	if err != nil {
		t.Fatal(err)
	}
	positive(t, r, "stored")
	rs, err := RunIMAP(ctx, IMAPOptions{Addr: imapAddr, Clients: 2, Users: 2, Password: smokePassword,
		Reps: 1, Warmup: 1, Words: []string{"zebra", "horses"}, StoreRange: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(IMAPOps)+1 { // two words searched
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		positive(t, r, "ops", "ops_per_s", "lat_p50_ms")
		switch r.Get("op") {
		case OpFetchEnvelope, OpFetchBodies, OpFetchHeaders:
			if r.Get("msgs") != "40" { // 2 clients × 20 messages
				t.Errorf("%s: %s messages", r.Get("op"), r.Get("msgs"))
			}
		case OpSearch:
			if r.Get("hits") != "10" { // every other message mentions a zebra, the others horses
				t.Errorf("search %s: %s hits", r.Get("word"), r.Get("hits"))
			}
		}
	}
	r, err = RunE2E(ctx, E2EOptions{SMTPAddr: smtpAddr, IMAPAddr: imapAddr, Pairs: 2, Messages: 3, Password: smokePassword})
	if err != nil {
		t.Fatal(err)
	}
	positive(t, r, "messages", "e2e_p50_ms", "e2e_p99_ms")
	ms, err := RunIdleMem(ctx, IdleMemOptions{Addr: imapAddr, Steps: []int{10, 4}, Users: 2, Password: smokePassword,
		Target: target, Sources: 2, Warmup: 2, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Get("conns") != "4" || ms[1].Get("conns") != "10" {
		t.Fatalf("steps: %v", ms)
	}
	for _, r := range ms {
		positive(t, r, "rss_kib", "pss_kib", "logins_per_s")
		if r.Get("alive") != "10" {
			t.Errorf("alive: %s", r.Get("alive"))
		}
	}
	if ms[1].Get("step_per_conn_rss_kib") == "" {
		t.Errorf("no marginal cost in %s", ms[1])
	}
}

// smokeMbox has two messages; only the second mentions a zebra.
const smokeMbox = `From a@example.org Mon Jan  1 00:00:00 2025
From: Alice <alice@example.org>
To: bench@example.test
Subject: horses
Date: Mon, 01 Jan 2025 00:00:00 +0000
Message-ID: <1@example.org>

A body about horses.

From b@example.org Mon Jan  1 00:00:00 2025
From: Bob <bob@example.org>
To: bench@example.test
Subject: stripes
Date: Mon, 01 Jan 2025 00:00:00 +0000
Message-ID: <2@example.org>

A body about a zebra.
`

// memSMTP files every message into the INBOX of its recipients in an
// imapmemserver.
type memSMTP struct{ mem *imapmemserver.Server }

func (b *memSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &memSession{b: b}, nil }

type memSession struct {
	b     *memSMTP
	rcpts []string
}

func (s *memSession) Reset()                               { s.rcpts = nil }
func (s *memSession) Logout() error                        { return nil }
func (s *memSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *memSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *memSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, to := range s.rcpts {
		sess := s.b.mem.NewSession()
		if err := sess.Login(to, smokePassword); err != nil {
			return err
		}
		if _, err := sess.Append("INBOX", literal{bytes.NewReader(b)}, &imap.AppendOptions{}); err != nil {
			return err
		}
		sess.Close()
	}
	return nil
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

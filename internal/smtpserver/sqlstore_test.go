package smtpserver_test

// These tests run the server on the real SQLite store (sqlstore on
// t.TempDir()) with an MX, a submission and an implicit-TLS listener, as
// `kantorpos serve` does, and look at the result the way IMAP will: the
// messages in the INBOX and the entries in the queue.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/smtpserver"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

const (
	alicePass = "alice-password-1"
	bobPass   = "bob-password-22"
)

// credentials adapts the store's Directory to auth.CredentialStore.
type credentials struct{ st store.Directory }

func (c credentials) Credentials(ctx context.Context, username string) (auth.Credentials, bool, error) {
	a, err := c.st.Account(ctx, strings.ToLower(username))
	if errors.Is(err, store.ErrNotFound) {
		return auth.Credentials{}, false, nil
	}
	if err != nil {
		return auth.Credentials{}, false, err
	}
	return auth.Credentials{AccountID: a.ID, Address: a.Address, PasswordHash: a.PasswordHash, Disabled: a.Disabled}, true, nil
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sqlEnv is the three SMTP listeners over one SQLite store.
type sqlEnv struct {
	t                  *testing.T
	st                 *sqlstore.Store
	mx, sub, subs      string // addresses of the listeners
	clientTLS          *tls.Config
	alice, bob         store.Account
	logs               *syncBuf
	insecureSubmission bool
}

func newSQLEnv(t *testing.T) *sqlEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	hasher := auth.NewHasher(auth.TestParams)
	e := &sqlEnv{t: t, st: st, logs: &syncBuf{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddDomain(ctx, "local.test"))
	must(st.AddDomain(ctx, "alias.test"))
	ah, _ := hasher.Hash(ctx, alicePass)
	bh, _ := hasher.Hash(ctx, bobPass)
	e.alice, err = st.CreateAccount(ctx, "alice@local.test", ah)
	must(err)
	e.bob, err = st.CreateAccount(ctx, "bob@local.test", bh)
	must(err)
	for _, a := range []store.Alias{
		{Address: "sales@local.test", Target: "alice@local.test"},
		{Address: "team@local.test", Target: "alice@local.test"},
		{Address: "team@local.test", Target: "bob@local.test"},
		{Address: "team@local.test", Target: "friend@ext.test"},
		{Address: "@alias.test", Target: "bob@local.test"},
	} {
		must(st.AddAlias(ctx, a))
	}
	serverTLS, clientTLS, err := tlsconf.TestConfig(tlsconf.ProtoSMTP)
	must(err)
	e.clientTLS = clientTLS
	deps := smtpserver.Deps{
		Router:    router.New(st, "alice@local.test"),
		Deliverer: st,
		Blobs:     blobs,
		Auth: &auth.Service{Store: credentials{st}, Hasher: hasher, Limiter: auth.NewLimiter(auth.LimiterConfig{}, nil),
			Sleep: func(ctx context.Context, d time.Duration) error { return nil }},
		TLS: serverTLS,
		Log: slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	var wg sync.WaitGroup
	var servers []*smtpserver.Server
	for _, kind := range []smtpserver.Kind{smtpserver.MX, smtpserver.Submission, smtpserver.SubmissionTLS} {
		srv, err := smtpserver.New(smtpserver.Config{Kind: kind, Hostname: "mx.local.test"}, deps)
		must(err)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		switch kind {
		case smtpserver.MX:
			e.mx = l.Addr().String()
		case smtpserver.Submission:
			e.sub = l.Addr().String()
		default:
			e.subs = l.Addr().String()
		}
		servers = append(servers, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil {
				t.Errorf("serve: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		wg.Wait()
		st.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// inbox returns the full text (prefix + blob) of every message in a folder.
func (e *sqlEnv) folder(a store.Account, name string) []string {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, a.ID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.st.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := range msgs {
		c, err := e.st.OpenMessage(ctx, &msgs[i])
		if err != nil {
			e.t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if int64(len(b)) != msgs[i].Size {
			e.t.Errorf("message size %d, read %d", msgs[i].Size, len(b))
		}
		if msgs[i].Meta == nil || msgs[i].Meta.Subject == "" && strings.Contains(string(b), "\r\nSubject: ") {
			e.t.Errorf("no metadata for %q", b)
		}
		out = append(out, string(b))
	}
	return out
}

func (e *sqlEnv) queue() []store.QueueEntry {
	e.t.Helper()
	q, err := e.st.QueueEntries(context.Background(), store.QueueFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

func dial(t *testing.T, addr string, cfg *tls.Config, mode string) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	switch mode {
	case "tls":
		c, err = smtp.DialTLS(addr, cfg)
	case "starttls":
		c, err = smtp.DialStartTLS(addr, cfg)
	default:
		c, err = smtp.Dial(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSQLMXDelivery(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	c := dial(t, e.mx, e.clientTLS, "")
	msg := "From: s@ext.test\r\nSubject: to the team\r\n\r\nHello all.\r\n"
	if err := c.SendMail("s@ext.test", []string{"alice@local.test", "team@local.test", "Bob+x@alias.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	a, b := e.folder(e.alice, "INBOX"), e.folder(e.bob, "INBOX")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("alice %d, bob %d messages", len(a), len(b))
	}
	if !strings.HasPrefix(a[0], "Return-Path: <s@ext.test>\r\nDelivered-To: alice@local.test\r\nReceived: from client.test ([127.0.0.1])") || !strings.HasSuffix(a[0], "\r\n"+msg) {
		t.Errorf("alice got:\n%s", a[0])
	}
	if !strings.HasPrefix(b[0], "Return-Path: <s@ext.test>\r\nDelivered-To: bob@local.test\r\n") {
		t.Errorf("bob got:\n%s", b[0])
	}
	_, ablob, _ := strings.Cut(a[0], "Received:")
	_, bblob, _ := strings.Cut(b[0], "Received:")
	if ablob != bblob {
		t.Error("the two copies differ beyond their prefix")
	}
	q := e.queue()
	if len(q) != 1 || q[0].Domain != "ext.test" || len(q[0].Rcpts) != 1 || q[0].Rcpts[0].Addr != "friend@ext.test" || q[0].From != "s@ext.test" {
		t.Fatalf("queue %+v", q)
	}
	// An unknown user and a relay attempt are refused and leave nothing.
	if err := c.SendMail("s@ext.test", []string{"nobody@local.test"}, strings.NewReader(msg)); !strings.Contains(err.Error(), "550") {
		t.Errorf("unknown user: %v", err)
	}
	if err := c.SendMail("s@ext.test", []string{"victim@ext2.test"}, strings.NewReader(msg)); !strings.Contains(err.Error(), "554") {
		t.Errorf("relay: %v", err)
	}
	if len(e.queue()) != 1 || len(e.folder(e.alice, "INBOX")) != 1 {
		t.Error("refused mail was stored")
	}
}

func TestSQLSubmission(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	for i, mode := range []struct{ addr, how string }{{e.sub, "starttls"}, {e.subs, "tls"}} {
		c := dial(t, mode.addr, e.clientTLS, mode.how)
		if err := c.Auth(sasl.NewPlainClient("", "alice@local.test", alicePass)); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("sales@local.test", &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "e1"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("far@ext.test", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("bob@local.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "From: Alice <alice@local.test>\r\nSubject: out\r\n\r\nbody\r\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		q := e.queue()
		if len(q) != i+1 {
			t.Fatalf("queue %+v", q)
		}
		last := q[i]
		if last.From != "sales@local.test" || last.RET != "HDRS" || last.EnvID != "e1" || last.AccountID != e.alice.ID ||
			len(last.Rcpts) != 1 || last.Rcpts[0].Addr != "far@ext.test" || last.Rcpts[0].Notify != "FAILURE" {
			t.Errorf("queue entry %+v", last)
		}
		b := e.folder(e.bob, "INBOX")
		if len(b) != i+1 || !strings.Contains(b[i], "with ESMTPSA id ") || !strings.Contains(b[i], "\r\nMessage-ID: <") || !strings.Contains(b[i], "\r\nDate: ") {
			t.Errorf("bob got:\n%s", b[len(b)-1])
		}
	}
}

// TestSQLSmuggling: the smuggling matrix on the real store: one message in
// the INBOX at most, never the smuggled one.
func TestSQLSmuggling(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	ends := []string{"\n.\n", "\n.\r\n", "\r.\n", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r\n\x00.\r\n", "\r\n.\r\r\n"}
	for _, end := range ends {
		nc, err := net.Dial("tcp", e.mx)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(nc)
		io.WriteString(nc, "EHLO x\r\nMAIL FROM:<a@ext.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n")
		for { // pipelining stops at DATA: wait for its 354
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("before 354: %v", err)
			}
			if strings.HasPrefix(line, "354") {
				break
			}
		}
		io.WriteString(nc, "Subject: a\r\n\r\nx"+end+"MAIL FROM:<admin@local.test>\r\nRCPT TO:<bob@local.test>\r\nDATA\r\nSubject: SMUGGLED\r\n\r\ny\r\n.\r\nQUIT\r\n")
		io.ReadAll(br)
		nc.Close()
	}
	a, b := e.folder(e.alice, "INBOX"), e.folder(e.bob, "INBOX")
	if len(b) != 0 {
		t.Errorf("bob received %d smuggled messages", len(b))
	}
	if len(a) > len(ends) {
		t.Errorf("alice has %d messages from %d attempts", len(a), len(ends))
	}
	for _, m := range a {
		hdr, _, _ := strings.Cut(m, "\r\n\r\n")
		if strings.Contains(hdr, "SMUGGLED") {
			t.Errorf("smuggled header:\n%q", m)
		}
	}
}

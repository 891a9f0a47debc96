package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/tlsconf"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/router"
)

// Test identities.
const (
	alicePass = "alice-password-1"
	bobPass   = "bob-password-22"
)

// testCert returns a server config with a fresh self-signed ECDSA
// certificate for localhost and 127.0.0.1, and a client config trusting it.
// No private key is ever written to disk.
func testCert(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	cert, _, pool, err := tlsconf.TestCertificate("localhost", "mx.local.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// logBuffer is a goroutine-safe slog sink the tests can search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is one server on 127.0.0.1 with a fake store.
type env struct {
	t         testing.TB
	st        *fakeStore
	blobs     *blob.FS
	srv       *Server
	addr      string
	clientTLS *tls.Config
	logs      *logBuffer
	limiter   *auth.Limiter
}

type envOption func(*Config, *Deps)

// newEnv starts a server of kind with domains local.test and alias.test,
// accounts alice and bob, and a few aliases.
func newEnv(t testing.TB, kind Kind, opts ...envOption) *env {
	t.Helper()
	blobs, err := blob.NewFS(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	st := newFakeStore(blobs)
	hasher := auth.NewHasher(auth.TestParams)
	ah, _ := hasher.Hash(context.Background(), alicePass)
	bh, _ := hasher.Hash(context.Background(), bobPass)
	st.domains["local.test"] = true
	st.domains["alias.test"] = true
	st.addAccount("alice@local.test", ah)
	st.addAccount("bob@local.test", bh)
	st.aliases["sales@local.test"] = []string{"alice@local.test"}
	st.aliases["team@local.test"] = []string{"alice@local.test", "bob@local.test", "friend@ext.test"}
	st.aliases["fwd@local.test"] = []string{"far@ext.test"}
	st.aliases["loop@local.test"] = []string{"loop2@local.test"}
	st.aliases["loop2@local.test"] = []string{"loop@local.test"}
	st.aliases["@alias.test"] = []string{"bob@local.test"}
	serverTLS, clientTLS := testCert(t)
	logs := &logBuffer{}
	limiter := auth.NewLimiter(auth.LimiterConfig{}, nil)
	cfg := Config{Kind: kind, Hostname: "mx.local.test", MaxReceived: 30}
	deps := Deps{
		Router:    router.New(st, "alice@local.test"),
		Deliverer: st,
		Blobs:     blobs,
		Auth: &auth.Service{Store: st, Hasher: hasher, Limiter: limiter,
			Sleep: func(ctx context.Context, d time.Duration) error { return nil }},
		TLS: serverTLS,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	e := &env{t: t, st: st, blobs: blobs, srv: srv, addr: l.Addr().String(), clientTLS: clientTLS, logs: logs, limiter: limiter}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// dial returns a go-smtp client after EHLO: plaintext, STARTTLS or
// implicit TLS according to the server kind and starttls.
func (e *env) dial(starttls bool) *smtp.Client {
	e.t.Helper()
	var c *smtp.Client
	var err error
	switch {
	case e.srv.cfg.Kind == SubmissionTLS:
		c, err = smtp.DialTLS(e.addr, e.clientTLS)
	case starttls:
		c, err = smtp.DialStartTLS(e.addr, e.clientTLS)
	default:
		c, err = smtp.Dial(e.addr)
	}
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	if err := c.Hello("client.test"); err != nil {
		e.t.Fatalf("hello: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// login dials with TLS and authenticates.
func (e *env) login(user, pass string) *smtp.Client {
	e.t.Helper()
	c := e.dial(true)
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		e.t.Fatalf("auth %s: %v", user, err)
	}
	return c
}

// send runs one transaction and returns the DATA error.
func send(c *smtp.Client, from string, to []string, msg string) error {
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
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

// code returns the SMTP code of err (0 if err is not an SMTP reply).
func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// enhanced returns the enhanced status code of err ("5.7.1"), or "".
func enhanced(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return ""
}

// raw is a line-level client for malformed input.
type raw struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func (e *env) raw() *raw {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	r := &raw{t: e.t, c: c, br: bufio.NewReader(c)}
	r.expect("220")
	return r
}

// send writes s as one write.
func (r *raw) send(s string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// reply reads one (possibly multi-line) reply and returns it whole.
func (r *raw) reply() (string, error) {
	var out strings.Builder
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := r.br.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			return out.String(), err
		}
		if len(line) < 4 || line[3] != '-' {
			return out.String(), nil
		}
	}
}

// expect reads a reply and fails unless it starts with prefix.
func (r *raw) expect(prefix string) string {
	r.t.Helper()
	got, err := r.reply()
	if !strings.HasPrefix(got, prefix) {
		r.t.Fatalf("reply %q (err %v), want prefix %q", got, err, prefix)
	}
	return got
}

// cmd sends a line and expects a reply prefix.
func (r *raw) cmd(line, prefix string) string {
	r.t.Helper()
	r.send(line + "\r\n")
	return r.expect(prefix)
}

// closed reports whether the server closed the connection (reading EOF
// after any remaining replies).
func (r *raw) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := r.br.ReadString('\n')
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const simpleMsg = "From: Sender <sender@ext.test>\r\nTo: alice@local.test\r\nSubject: hello\r\n\r\nHello, Alice.\r\n"

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

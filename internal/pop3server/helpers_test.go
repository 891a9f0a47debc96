package pop3server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/tlsconf"

	"github.com/kantorpos/kantorpos/internal/auth"
)

// memCreds is an auth.CredentialStore over a map.
type memCreds map[string]auth.Credentials

func (m memCreds) Credentials(_ context.Context, u string) (auth.Credentials, bool, error) {
	if u == "tempfail@example.test" {
		return auth.Credentials{}, false, errors.New("database down")
	}
	c, ok := m[strings.ToLower(u)]
	return c, ok, nil
}

// testAuth is an auth.Service with accounts (address → password; account
// IDs 1, 2, ... in sorted address order) and a sleep that records delays.
type testAuth struct {
	*auth.Service
	mu     sync.Mutex
	sleeps []time.Duration
}

func newTestAuth(t testing.TB, lim auth.LimiterConfig, users map[string]string) *testAuth {
	t.Helper()
	h := auth.NewHasher(auth.TestParams)
	creds := memCreds{}
	names := slices.Sorted(mapKeys(users))
	for i, u := range names {
		hash, err := h.Hash(context.Background(), users[u])
		if err != nil {
			t.Fatal(err)
		}
		creds[u] = auth.Credentials{AccountID: int64(i + 1), Address: u, PasswordHash: hash}
	}
	ta := &testAuth{}
	ta.Service = &auth.Service{Store: creds, Hasher: h, Limiter: auth.NewLimiter(lim, nil),
		Sleep: func(ctx context.Context, d time.Duration) error {
			ta.mu.Lock()
			ta.sleeps = append(ta.sleeps, d)
			ta.mu.Unlock()
			return ctx.Err()
		}}
	return ta
}

func (ta *testAuth) slept() []time.Duration {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return slices.Clone(ta.sleeps)
}

func mapKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var authNoLimit = auth.LimiterConfig{FreeFailures: 1000, MaxFailures: 1000}

// Test accounts: alice is account 1, bob account 2.
var testUsers = map[string]string{"alice@example.test": "alice-pw", "bob@example.test": "bob pw with spaces"}

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1 and localhost, and the certificate in PEM (never a key on disk
// in the repository).
func testTLS(t testing.TB) (*tls.Config, []byte) {
	t.Helper()
	cert, certPEM, _, err := tlsconf.TestCertificate("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, certPEM
}

// clientTLS trusts the PEM certificate.
func clientTLS(t testing.TB, certPEM []byte) *tls.Config {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("bad cert")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// testServer is a running Server on 127.0.0.1.
type testServer struct {
	*Server
	addr    string
	certPEM []byte
	backend *memBackend
	auth    *testAuth
}

type serverOpt func(*Server)

// startServer runs a Server on an ephemeral loopback port with a memBackend
// and the test users, TLS available (STLS, or implicit with
// cfg.ImplicitTLS).
func startServer(t testing.TB, cfg Config, opts ...serverOpt) *testServer {
	t.Helper()
	tlsConf, certPEM := testTLS(t)
	ts := &testServer{backend: newMemBackend(), certPEM: certPEM,
		auth: newTestAuth(t, auth.LimiterConfig{FreeFailures: 100, MaxFailures: 1000}, testUsers)}
	ts.Server = &Server{Backend: ts.backend, Auth: ts.auth, TLSConfig: tlsConf, Config: cfg, Log: testLogger(t)}
	for _, o := range opts {
		o(ts.Server)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- ts.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// testLogger logs to the test output when POP3_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("POP3_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a minimal POP3 client for tests.
type client struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c)
	cl.expectOK()
	return cl
}

func dialTLS(t testing.TB, ts *testServer) *client {
	t.Helper()
	c, err := tls.Dial("tcp", ts.addr, clientTLS(t, ts.certPEM))
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c)
	cl.expectOK()
	return cl
}

func newClient(t testing.TB, c net.Conn) *client {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	cl := &client{t: t, conn: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	return cl
}

// line reads one response line.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

func (c *client) send(format string, args ...any) {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// cmd sends a command and returns the first response line.
func (c *client) cmd(format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	return c.line()
}

func (c *client) expectOK() string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, "+OK") {
		c.t.Fatalf("got %q, want +OK", l)
	}
	return l
}

// ok sends a command and fails unless it gets +OK.
func (c *client) ok(format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	return c.expectOK()
}

// multi sends a command expecting a multi-line +OK response and returns
// the dot-unstuffed lines.
func (c *client) multi(format string, args ...any) []string {
	c.t.Helper()
	c.ok(format, args...)
	lines, err := c.tp.ReadDotLines()
	if err != nil {
		c.t.Fatalf("read dot lines: %v", err)
	}
	return lines
}

// raw reads the multi-line body without unstuffing, up to the "." line.
func (c *client) raw() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// login logs in with USER/PASS.
func (c *client) login(user string) string {
	c.t.Helper()
	c.ok("USER %s", user)
	return c.ok("PASS %s", testUsers[user])
}

// expectClosed fails unless the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := c.tp.ReadLine(); err == nil {
		c.t.Fatalf("got %q, want the connection closed", l)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("connection still open")
	}
}

// waitFor polls cond until it holds or 5 s pass.
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

// fakeConn is an in-memory net.Conn: reads come from in, writes go to out.
type fakeConn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *fakeConn) Close() error                { return nil }
func (c *fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110} }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*fakeConn)(nil)

// localIP is the address fakeConn reports.
var localIP = netip.MustParseAddr("127.0.0.1")

package pop3server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// memBackend is an in-memory Backend: one INBOX per account.
type memBackend struct {
	mu        sync.Mutex
	boxes     map[int64]*memBox // by account ID
	locks     map[int64]bool
	deletes   int // DeleteMessages calls
	failOpen  error
	failDel   error
	openCount int
}

type memBox struct {
	mb   store.Mailbox
	msgs []memMsg
}

type memMsg struct {
	uid   uint32
	data  []byte
	flags []string
}

func newMemBackend() *memBackend {
	return &memBackend{boxes: map[int64]*memBox{}, locks: map[int64]bool{}}
}

// add appends a message to an account's INBOX and returns its UID.
func (b *memBackend) add(accountID int64, data string) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	box := b.box(accountID)
	uid := box.mb.UIDNext
	box.mb.UIDNext++
	box.msgs = append(box.msgs, memMsg{uid: uid, data: []byte(data)})
	return uid
}

func (b *memBackend) box(accountID int64) *memBox {
	box := b.boxes[accountID]
	if box == nil {
		box = &memBox{mb: store.Mailbox{ID: accountID * 100, AccountID: accountID, Name: store.Inbox, UIDValidity: 1700000000 + uint32(accountID), UIDNext: 1}}
		b.boxes[accountID] = box
	}
	return box
}

func (b *memBackend) uids(accountID int64) []uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var u []uint32
	for _, m := range b.box(accountID).msgs {
		u = append(u, m.uid)
	}
	return u
}

func (b *memBackend) flags(accountID int64, uid uint32) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.box(accountID).msgs {
		if m.uid == uid {
			return m.flags
		}
	}
	return nil
}

func (b *memBackend) boxByID(id int64) (*memBox, error) {
	for _, box := range b.boxes {
		if box.mb.ID == id {
			return box, nil
		}
	}
	return nil, store.ErrNotFound
}

func (b *memBackend) Mailbox(_ context.Context, accountID int64, name string) (store.Mailbox, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !strings.EqualFold(name, store.Inbox) {
		return store.Mailbox{}, store.ErrNotFound
	}
	return b.box(accountID).mb, nil
}

func (b *memBackend) FetchMessages(_ context.Context, mailboxID int64, uids store.UIDSet, _ store.FetchOptions) ([]store.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	box, err := b.boxByID(mailboxID)
	if err != nil {
		return nil, err
	}
	var out []store.Message
	for _, m := range box.msgs {
		if uids.Contains(m.uid) {
			out = append(out, store.Message{MailboxID: mailboxID, UID: m.uid, Size: int64(len(m.data)), Flags: slices.Clone(m.flags)})
		}
	}
	return out, nil
}

type memContent struct {
	*bytes.Reader
}

func (memContent) Close() error { return nil }

func (b *memBackend) OpenMessage(_ context.Context, m *store.Message) (store.Content, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openCount++
	if b.failOpen != nil {
		return nil, b.failOpen
	}
	box, err := b.boxByID(m.MailboxID)
	if err != nil {
		return nil, err
	}
	for _, mm := range box.msgs {
		if mm.uid == m.UID {
			return memContent{bytes.NewReader(mm.data)}, nil
		}
	}
	return nil, store.ErrNotFound
}

func (b *memBackend) UpdateFlags(_ context.Context, mailboxID int64, uids store.UIDSet, op store.FlagOp, flags []string) ([]store.MessageState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	box, err := b.boxByID(mailboxID)
	if err != nil {
		return nil, err
	}
	var changed []store.MessageState
	for i := range box.msgs {
		m := &box.msgs[i]
		if !uids.Contains(m.uid) || op != store.FlagsAdd {
			continue
		}
		for _, f := range flags {
			if !slices.Contains(m.flags, f) {
				m.flags = append(m.flags, f)
			}
		}
		changed = append(changed, store.MessageState{UID: m.uid, Flags: m.flags})
	}
	return changed, nil
}

func (b *memBackend) DeleteMessages(_ context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deletes++
	if b.failDel != nil {
		return nil, b.failDel
	}
	box, err := b.boxByID(mailboxID)
	if err != nil {
		return nil, err
	}
	var gone []uint32
	box.msgs = slices.DeleteFunc(box.msgs, func(m memMsg) bool {
		if slices.Contains(uids, m.uid) {
			gone = append(gone, m.uid)
			return true
		}
		return false
	})
	return gone, nil
}

func (b *memBackend) LockMaildrop(_ context.Context, accountID int64) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[accountID] {
		return nil, store.ErrLocked
	}
	b.locks[accountID] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.locks, accountID)
			b.mu.Unlock()
		})
	}, nil
}

func (b *memBackend) locked(accountID int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.locks[accountID]
}

func (b *memBackend) deleteCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deletes
}

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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
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

// needCommand skips (or fails when CI=true) when an external program is
// missing, naming the Debian package that provides it.
func needCommand(t testing.TB, cmd, debianPkg string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		msg := fmt.Sprintf("%s not found: apt-get install %s", cmd, debianPkg)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
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

package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/tlsconf"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

const (
	testUser = "alice@example.test"
	testPass = "correct horse battery"
)

// env is one server over a fresh SQLite store, listening on 127.0.0.1 with
// a plaintext (STARTTLS) and an implicit-TLS listener.
type env struct {
	t         testing.TB
	store     *sqlstore.Store
	blobs     blob.Store
	fsBlobs   *blob.FS // the file store under blobs (SQLite environments)
	srv       *Server
	account   store.Account
	plainAddr string
	tlsAddr   string
	tlsClient *tls.Config
	panics    *panicCounter
}

// panicCounter counts log records that report a recovered panic.
type panicCounter struct {
	slog.Handler
	n *atomic.Int64
}

func (p *panicCounter) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(strings.ToLower(r.Message), "panic") {
		p.count().Add(1)
	}
	return p.Handler.Handle(ctx, r)
}

func (p *panicCounter) count() *atomic.Int64 { return p.n }

// Enabled lets warnings through even when the inner handler discards them.
func (p *panicCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || p.Handler.Enabled(ctx, l)
}

func (p *panicCounter) WithAttrs(a []slog.Attr) slog.Handler {
	return &panicCounter{Handler: p.Handler.WithAttrs(a), n: p.n}
}

func (p *panicCounter) WithGroup(g string) slog.Handler {
	return &panicCounter{Handler: p.Handler.WithGroup(g), n: p.n}
}

// blobReserve sets the free-space reserve of the blob store (disk-full tests).
type blobReserve int64

// logTo sends the server's log to a handler (tests of what is logged).
type logTo struct{ slog.Handler }

// wrapBackend lets a test put a faulty backend in front of the store.
type wrapBackend func(Backend) Backend

// newEnv takes options: func(*Config) or blobReserve.
func newEnv(t testing.TB, opts ...any) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var reserve int64
	for _, o := range opts {
		if r, ok := o.(blobReserve); ok {
			reserve = int64(r)
		}
	}
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"), reserve)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := serveStore(t, st, blobs, createAccounts(t, st), opts...)
	e.fsBlobs = blobs
	return e
}

// createAccounts makes domain example.test with alice (the test user) and bob.
func createAccounts(t testing.TB, st store.Store) store.Account {
	t.Helper()
	ctx := context.Background()
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.NewHasher(auth.TestParams).Hash(ctx, testPass)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, testUser, hash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, "bob@example.test", hash); err != nil {
		t.Fatal(err)
	}
	return acct
}

// serveStore starts a server over st on two loopback listeners.
func serveStore(t testing.TB, st *sqlstore.Store, blobs blob.Store, acct store.Account, opts ...any) *env {
	t.Helper()
	hasher := auth.NewHasher(auth.TestParams)
	svc := &auth.Service{
		Store:   credStore{st},
		Hasher:  hasher,
		Limiter: auth.NewLimiter(auth.LimiterConfig{}, nil),
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
	serverTLS, clientTLS := testCerts(t)
	cfg := Config{TLS: serverTLS}
	for _, o := range opts {
		if f, ok := o.(func(*Config)); ok {
			f(&cfg)
		}
	}
	var inner slog.Handler = slog.DiscardHandler
	if os.Getenv("IMAP_TEST_LOG") != "" {
		inner = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	for _, o := range opts {
		if h, ok := o.(logTo); ok {
			inner = h.Handler
		}
	}
	panics := &panicCounter{Handler: inner, n: new(atomic.Int64)}
	var backend Backend = st
	for _, o := range opts {
		if w, ok := o.(wrapBackend); ok {
			backend = w(backend)
		}
	}
	srv, err := New(cfg, Deps{Backend: backend, Auth: svc, Blobs: blobs, Log: slog.New(panics)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, blobs: blobs, srv: srv, account: acct, tlsClient: clientTLS, panics: panics}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.plainAddr, e.tlsAddr = plain.Addr().String(), tlsLn.Addr().String()
	go srv.Serve(plain)
	go srv.ServeTLS(tlsLn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return e
}

// credStore looks accounts up for auth.Service.
type credStore struct{ s store.Directory }

func (c credStore) Credentials(ctx context.Context, user string) (auth.Credentials, bool, error) {
	a, err := c.s.Account(ctx, strings.ToLower(user))
	if errors.Is(err, store.ErrNotFound) {
		return auth.Credentials{}, false, nil
	}
	if err != nil {
		return auth.Credentials{}, false, err
	}
	return auth.Credentials{AccountID: a.ID, Address: a.Address, PasswordHash: a.PasswordHash, Disabled: a.Disabled}, true, nil
}

// testCerts makes a self-signed certificate for 127.0.0.1 in memory.
func testCerts(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	cert, _, pool, err := tlsconf.TestCertificate("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// client returns a logged-in go-imap client over implicit TLS.
func (e *env) client(t testing.TB) *imapclient.Client {
	t.Helper()
	c := e.dial(t, nil)
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func (e *env) dial(t testing.TB, o *imapclient.Options) *imapclient.Client {
	t.Helper()
	if o == nil {
		o = &imapclient.Options{}
	}
	o.TLSConfig = e.tlsClient
	c, err := imapclient.DialTLS(e.tlsAddr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var msgSeq atomic.Int64

// testMsg builds a message with a unique Message-ID.
func testMsg(subject, body string) string {
	n := msgSeq.Add(1)
	return fmt.Sprintf("From: Bob <bob@ext.test>\r\nTo: alice@example.test\r\nSubject: %s\r\n"+
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m%d@ext.test>\r\n\r\n%s\r\n", subject, n, body)
}

// deliver files a message into a mailbox of alice as SMTP would.
func (e *env) deliver(t testing.TB, mailbox, content string, flags ...string) store.Appended {
	t.Helper()
	ctx := context.Background()
	ref, meta := e.putBlob(t, content)
	res, err := e.store.Deliver(ctx, &store.Delivery{Blob: ref, Meta: meta, ReceivedAt: time.Now(),
		Local: []store.LocalDelivery{{AccountID: e.account.ID, Mailbox: mailbox, Flags: flags}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Local[0]
}

func (e *env) putBlob(t testing.TB, content string) (store.BlobRef, *store.MessageMeta) {
	t.Helper()
	ctx := context.Background()
	w, err := e.blobs.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, content)
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := msgmeta.Parse(strings.NewReader(content), msgmeta.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return ref, meta
}

func (e *env) mailbox(t testing.TB, name string) store.Mailbox {
	t.Helper()
	mb, err := e.store.Mailbox(context.Background(), e.account.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// raw is a line-level IMAP connection for exact checks and hostile input.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// rawTLS connects over implicit TLS and reads the greeting.
func (e *env) rawTLS(t testing.TB) *raw {
	t.Helper()
	c, err := tls.Dial("tcp", e.tlsAddr, e.tlsClient)
	if err != nil {
		t.Fatal(err)
	}
	return newRaw(t, c)
}

// rawPlain connects without TLS and reads the greeting.
func (e *env) rawPlain(t testing.TB) *raw {
	t.Helper()
	c, err := net.Dial("tcp", e.plainAddr)
	if err != nil {
		t.Fatal(err)
	}
	return newRaw(t, c)
}

func newRaw(t testing.TB, c net.Conn) *raw {
	r := &raw{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	if g := r.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

// line reads one line (without CRLF), failing the test after 10 s.
func (r *raw) line() string {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (r *raw) write(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// cmd sends a command with a fresh tag and returns the untagged lines and
// the tagged reply.
func (r *raw) cmd(command string) (untagged []string, tagged string) {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	r.write(tag + " " + command + "\r\n")
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed.
func (r *raw) ok(command string) []string {
	r.t.Helper()
	u, tagged := r.cmd(command)
	if !strings.HasPrefix(tagged, "OK") {
		r.t.Fatalf("%s: %s (untagged %q)", command, tagged, u)
	}
	return u
}

func (r *raw) login() *raw {
	r.t.Helper()
	r.ok(fmt.Sprintf("LOGIN %s %q", testUser, testPass))
	return r
}

// expectUntagged waits for an untagged line containing want (e.g. during IDLE).
func (r *raw) expectUntagged(want string, within time.Duration) string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.conn.SetReadDeadline(deadline)
		l, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("waiting for %q: %v", want, err)
		}
		if strings.Contains(l, want) {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "condition", cond)
}

func hasFlag(flags []string, f string) bool { return slices.Contains(flags, f) }

func itoa(i int) string { return fmt.Sprint(i) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/tlsconf"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// recvConfig tells a test receiver what to offer and how to answer.
type recvConfig struct {
	startTLS    bool     // offer STARTTLS
	implicitTLS bool     // TLS from the first byte (port 465 style)
	hide        []string // EHLO keywords to hide (plaintext sessions only), e.g. "PIPELINING"
	smtputf8    bool
	dsn         bool
	size        int64      // SIZE limit, 0: none announced with a value
	maxRcpts    int        // recipients per transaction (LIMITS RCPTMAX, then 452)
	auth        *[2]string // require AUTH PLAIN with this user and password
	rcptErr     map[string]*smtp.SMTPError
	mailErr     *smtp.SMTPError
	dataErr     *smtp.SMTPError
	// perConn decides, for the n-th accepted connection (from 1), whether
	// to reject the greeting or break the TLS handshake.
	perConn func(n int) connBehaviour
	// onData runs at the start of every DATA (e.g. to hold a connection open).
	onData func(*receiver)
}

type connBehaviour struct {
	greeting  string // if set, written instead of the SMTP session, then closed
	brokenTLS bool   // fail the TLS handshake
}

// received is one message as the receiver saw it.
type received struct {
	from     string
	mailOpts smtp.MailOptions
	rcpts    []string
	rcptOpts []smtp.RcptOptions
	data     []byte
	tls      bool
	authUser string
}

// receiver is an in-process SMTP server (go-smtp) on 127.0.0.1 that records
// what it receives, the raw bytes clients send, and how many connections
// are open at once.
type receiver struct {
	t    testing.TB
	port int
	cfg  recvConfig
	ca   *x509.CertPool

	mu       sync.Mutex
	msgs     []received
	raw      []*bytes.Buffer
	accepted int // connections accepted
	open     int // connections open now
	maxOpen  int // most connections open at once
}

func newReceiver(t testing.TB, cfg recvConfig) *receiver {
	t.Helper()
	r := &receiver{t: t, cfg: cfg}
	cert, pool := testCert(t, "mx.b.test", "smarthost.test")
	r.ca = pool
	srv := smtp.NewServer(smtp.BackendFunc(r.newSession))
	srv.Domain = "mx.b.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableSMTPUTF8 = cfg.smtputf8
	srv.EnableDSN = cfg.dsn
	srv.MaxMessageBytes = cfg.size
	srv.MaxRecipients = cfg.maxRcpts
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			if c, ok := hi.Conn.(*recConn); ok && c.behaviour.brokenTLS {
				return nil, errors.New("test: broken TLS")
			}
			return nil, nil
		},
	}
	if cfg.startTLS {
		srv.TLSConfig = tlsCfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.port = l.Addr().(*net.TCPAddr).Port
	var ln net.Listener = &recListener{Listener: l, r: r}
	if cfg.implicitTLS {
		ln = tls.NewListener(ln, tlsCfg)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) //nolint:errcheck // ends with Close
	}()
	t.Cleanup(func() {
		// Close the listener ourselves too: srv.Close does not know it
		// if Serve has not started yet.
		srv.Close()
		ln.Close()
		<-done
	})
	return r
}

func (r *receiver) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

func (r *receiver) stats() (accepted, maxOpen int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted, r.maxOpen
}

func (r *receiver) openConns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open
}

// rawAll is every byte clients sent, connection after connection.
func (r *receiver) rawAll() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []byte
	for _, buf := range r.raw {
		b = append(b, buf.Bytes()...)
	}
	return b
}

// recListener counts and wraps accepted connections.
type recListener struct {
	net.Listener
	r *receiver
}

func (l *recListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		r := l.r
		r.mu.Lock()
		r.accepted++
		n := r.accepted
		r.open++
		r.maxOpen = max(r.maxOpen, r.open)
		buf := &bytes.Buffer{}
		r.raw = append(r.raw, buf)
		r.mu.Unlock()
		rc := &recConn{Conn: c, r: r, raw: buf}
		if r.cfg.perConn != nil {
			rc.behaviour = r.cfg.perConn(n)
		}
		if !r.cfg.startTLS && !r.cfg.implicitTLS {
			rc.hide = r.cfg.hide
		}
		if g := rc.behaviour.greeting; g != "" {
			rc.Write([]byte(g + "\r\n")) //nolint:errcheck
			rc.Close()
			continue
		}
		return rc, nil
	}
}

// recConn records what the client sends and can hide EHLO keywords.
type recConn struct {
	net.Conn
	r         *receiver
	raw       *bytes.Buffer
	hide      []string
	behaviour connBehaviour
	once      sync.Once
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.raw.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}

// Write drops "250-KEYWORD" lines for hidden keywords. go-smtp writes one
// reply line per Write, so line-wise filtering of whole writes suffices.
func (c *recConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("221 ")) {
		// The reply to QUIT: the client closes its side once it reads it,
		// before this server gets to close; the connection stops counting
		// now, or a new one the client opens at once would seem to overlap.
		c.uncount()
	}
	if len(c.hide) == 0 || !bytes.HasSuffix(p, []byte("\r\n")) {
		return c.Conn.Write(p)
	}
	var out []byte
	for _, line := range bytes.SplitAfter(p, []byte("\r\n")) {
		drop := false
		for _, h := range c.hide {
			if bytes.HasPrefix(line, []byte("250-"+h)) {
				drop = true
			}
		}
		if !drop {
			out = append(out, line...)
		}
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *recConn) Close() error {
	c.uncount()
	return c.Conn.Close()
}

// uncount takes the connection out of the open count, once.
func (c *recConn) uncount() {
	c.once.Do(func() {
		c.r.mu.Lock()
		c.r.open--
		c.r.mu.Unlock()
	})
}

// session implements smtp.Session and smtp.AuthSession.
type session struct {
	r    *receiver
	conn *smtp.Conn
	cur  received
	user string
}

func (r *receiver) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{r: r, conn: c}, nil
}

func (s *session) AuthMechanisms() []string {
	if s.r.cfg.auth == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if a := s.r.cfg.auth; a == nil || user != a[0] || pass != a[1] {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.r.cfg.auth != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	if s.r.cfg.mailErr != nil {
		return s.r.cfg.mailErr
	}
	s.cur = received{from: from, authUser: s.user}
	if opts != nil {
		s.cur.mailOpts = *opts
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if e := s.r.cfg.rcptErr[to]; e != nil {
		return e
	}
	s.cur.rcpts = append(s.cur.rcpts, to)
	var o smtp.RcptOptions
	if opts != nil {
		o = *opts
	}
	s.cur.rcptOpts = append(s.cur.rcptOpts, o)
	return nil
}

func (s *session) Data(rd io.Reader) error {
	if s.r.cfg.onData != nil {
		s.r.cfg.onData(s.r)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	if s.r.cfg.dataErr != nil {
		return s.r.cfg.dataErr
	}
	s.cur.data = b
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.cur)
	s.r.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// testCert makes a self-signed certificate for names and 127.0.0.1, and a
// pool that trusts it. Keys live in memory only.
func testCert(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, _, pool, err := tlsconf.TestCertificate(append(names, "127.0.0.1")...)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pool
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// holdUntil blocks until cond holds or d passes; used inside a receiver
// to keep connections open so that concurrency can build up.
func holdUntil(ctx context.Context, d time.Duration, cond func() bool) {
	deadline := time.Now().Add(d)
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// serr builds a reply for the receiver to send, e.g. serr(550, "5.1.1", "no such user").
func serr(code int, enh, msg string) *smtp.SMTPError {
	var e smtp.EnhancedCode
	for i, p := range strings.SplitN(enh, ".", 3) {
		e[i], _ = strconv.Atoi(p)
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: e, Message: msg}
}

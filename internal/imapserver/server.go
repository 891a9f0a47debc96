package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/netlimit"
)

// Config is the IMAP server's configuration. Zero fields take the defaults
// noted.
type Config struct {
	// TLS is used for STARTTLS on Serve listeners and for ServeTLS
	// listeners. Without it, STARTTLS is not offered and ServeTLS fails.
	TLS *tls.Config
	// AllowInsecureAuth permits LOGIN and AUTHENTICATE without TLS. Off,
	// the server advertises LOGINDISABLED before TLS (RFC 9051 6.2.3).
	AllowInsecureAuth bool
	// AppendLimit bounds a message added by APPEND (default 50 MiB). Other
	// literals are limited by the wire library to 4096 bytes and commands
	// to 50 KiB.
	AppendLimit uint32
	// MaxConnsPerIP bounds simultaneous connections from one address
	// (default 20); more are greeted with BYE and closed.
	MaxConnsPerIP int
	// MaxConnsPerAccount bounds simultaneous logged-in sessions of one
	// account (default 50); more get NO [UNAVAILABLE] at login.
	MaxConnsPerAccount int
	// MaxLoginFailures closes a connection after that many failed logins
	// (default 3). The shared auth.Limiter slows failures across connections.
	MaxLoginFailures int
	// AutoLogout closes an authenticated session that sends nothing (default
	// and minimum 30 minutes, RFC 9051 5.4). IdleTimeout does the same for
	// a session in IDLE (default and minimum 30 minutes; clients re-issue
	// IDLE every 29 minutes, RFC 2177). Before login the wire library
	// allows 30 seconds per command.
	AutoLogout  time.Duration
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake of an implicit-TLS
	// connection (default 10 seconds).
	HandshakeTimeout time.Duration
	// Location is the time zone of SEARCH dates (SINCE, BEFORE, ON...);
	// default UTC.
	Location *time.Location
	// Parse bounds the parsing of APPENDed messages.
	Parse msgmeta.Limits
	// FetchBatch is how many messages FETCH loads per store query (default 256).
	FetchBatch int
}

func (c Config) withDefaults() Config {
	if c.AppendLimit == 0 {
		c.AppendLimit = 50 << 20
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 20
	}
	if c.MaxConnsPerAccount <= 0 {
		c.MaxConnsPerAccount = 50
	}
	if c.MaxLoginFailures <= 0 {
		c.MaxLoginFailures = 3
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	c.AutoLogout = max(c.AutoLogout, 30*time.Minute)
	c.IdleTimeout = max(c.IdleTimeout, 30*time.Minute)
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.FetchBatch <= 0 {
		c.FetchBatch = 256
	}
	return c
}

// Deps are the components the server uses.
type Deps struct {
	Backend Backend
	Auth    Authenticator
	Blobs   BlobStore
	Log     *slog.Logger // nil discards
	Clock   clock.Clock  // nil is the wall clock
}

// Server serves IMAP on any number of listeners.
type Server struct {
	cfg     Config
	backend Backend
	auth    Authenticator
	blobs   BlobStore
	log     *slog.Logger
	clock   clock.Clock

	wire *imapserver.Server
	hub  *hub
	// headerBufs (8 KiB, a message's start) and copyBufs (32 KiB, for
	// literals) serve FETCH; idle sessions hold none.
	headerBufs, copyBufs sync.Pool
	tls                  *tls.Config // cfg.TLS with ALPN "imap"

	ctx    context.Context // cancelled when shutdown forces sessions closed
	cancel context.CancelFunc
	nextID atomic.Uint64

	mu         sync.Mutex
	perIP      map[netip.Addr]int
	perAccount map[int64]int
	sessions   map[*session]struct{}
	listeners  map[net.Listener]struct{}
	closing    bool
}

// New returns a server; it starts following store changes at once.
func New(cfg Config, d Deps) (*Server, error) {
	if d.Backend == nil || d.Auth == nil || d.Blobs == nil {
		return nil, errors.New("imapserver: Backend, Auth and Blobs are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg: cfg, backend: d.Backend, auth: d.Auth, blobs: d.Blobs, log: d.Log.With("proto", "imap"), clock: d.Clock,
		perIP: map[netip.Addr]int{}, perAccount: map[int64]int{},
		sessions: map[*session]struct{}{}, listeners: map[net.Listener]struct{}{},
	}
	if cfg.TLS != nil {
		s.tls = cfg.TLS.Clone()
		if len(s.tls.NextProtos) == 0 {
			s.tls.NextProtos = []string{"imap"} // ALPACA: refuse other protocols' ALPN
		}
		if s.tls.MinVersion < tls.VersionTLS12 {
			s.tls.MinVersion = tls.VersionTLS12
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub = newHub(s.ctx, d.Backend, s.log)
	s.wire = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         capabilities,
		Logger:       wireLogger{s.log},
		TLSConfig:    s.tls,
		InsecureAuth: cfg.AllowInsecureAuth,
	})
	return s, nil
}

// capabilities are those that need our backend; the wire library adds
// SASL-IR, LITERAL-, UNSELECT, ENABLE, IDLE, UTF8=ACCEPT, STARTTLS,
// LOGINDISABLED, AUTH= and APPENDLIMIT= as the state allows.
var capabilities = imap.CapSet{
	imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
	imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapSearchRes: {},
	imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapMove: {}, imap.CapStatusSize: {},
	imap.CapBinary: {}, imap.CapChildren: {}, imap.CapSpecialUse: {}, imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus: {},
}

// Serve accepts plaintext connections on ln, offering STARTTLS when TLS is
// configured. It returns when ln is closed or the server shuts down.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeTLS accepts implicit-TLS connections (port 993) on ln.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.tls == nil {
		return errors.New("imapserver: ServeTLS without a TLS configuration")
	}
	return s.serve(ln, true)
}

// ImplicitTLS returns a view of the server whose Serve takes implicit-TLS
// listeners, for wiring that expects Serve(net.Listener) and
// Shutdown(ctx) per listener. Both views are the same server: one store
// subscription, one set of connection limits.
func (s *Server) ImplicitTLS() *TLSService { return &TLSService{s: s} }

// TLSService is the implicit-TLS view of a Server (see ImplicitTLS).
type TLSService struct{ s *Server }

// Serve is Server.ServeTLS.
func (t *TLSService) Serve(ln net.Listener) error { return t.s.ServeTLS(ln) }

// Shutdown is Server.Shutdown.
func (t *TLSService) Shutdown(ctx context.Context) error { return t.s.Shutdown(ctx) }

func (s *Server) serve(ln net.Listener, implicitTLS bool) error {
	var l net.Listener = &limitListener{Listener: ln, s: s, tls: implicitTLS}
	if implicitTLS {
		l = netlimit.NewTLSListener(l, s.tls, s.cfg.HandshakeTimeout, s.log)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("imapserver: server closed")
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	err := s.wire.Serve(l)
	s.mu.Lock()
	delete(s.listeners, l)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, says BYE to every session that is
// between commands or in IDLE, lets busy sessions finish their command
// until ctx ends, then closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		left := 0
		for sess := range s.sessions {
			left++
			if !sess.busy.Load() {
				sess.bye("Server shutting down")
			}
		}
		s.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		// Out of time: close the rest without waiting for them.
		s.mu.Lock()
		for sess := range s.sessions {
			sess.tc.Close()
		}
		s.mu.Unlock()
		break
	}
	s.cancel()
	s.wire.Close()
	s.hub.close()
	return ctx.Err()
}

func (s *Server) acquireIP(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) releaseIP(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

func (s *Server) acquireAccount(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perAccount[id] >= s.cfg.MaxConnsPerAccount {
		return false
	}
	s.perAccount[id]++
	return true
}

func (s *Server) releaseAccount(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perAccount[id]--; s.perAccount[id] <= 0 {
		delete(s.perAccount, id)
	}
}

// limitListener enforces the per-IP connection cap and wraps each
// connection so the server can account for it and adjust its deadlines.
type limitListener struct {
	net.Listener
	s   *Server
	tls bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientaddr.FromNet(c.RemoteAddr())
		if !l.s.acquireIP(ip) {
			go l.s.refuse(c, l.tls)
			continue
		}
		return &trackedConn{Conn: c, s: l.s, ip: ip, id: strconv.FormatUint(l.s.nextID.Add(1), 36)}, nil
	}
}

// refuse greets a connection over the per-IP cap with BYE and closes it.
func (s *Server) refuse(c net.Conn, implicitTLS bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if implicitTLS {
		tc := tls.Server(c, s.tls)
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	s.log.Warn("connection refused: too many from address", "ip", clientaddr.FromNet(c.RemoteAddr()).String())
	fmt.Fprintf(c, "* BYE [UNAVAILABLE] Too many connections from your address\r\n")
}

// trackedConn is a client connection as the server sees it under any TLS
// layer: it releases its per-IP slot once, and stretches the wire library's
// fixed 35-minute read deadline of authenticated sessions to the
// configured auto-logout or IDLE timeout.
type trackedConn struct {
	net.Conn
	s      *Server
	ip     netip.Addr
	id     string
	idling atomic.Bool
	once   sync.Once

	// The wire library flushes after every response line; while a long
	// response is corked (FETCH of many messages), writes are gathered so
	// that thousands of responses do not cost thousands of syscalls.
	wmu    sync.Mutex
	corked bool
	wbuf   []byte

	// readHook, when set, is closed at the next read (see byeAfterReply).
	readHook atomic.Pointer[chan struct{}]
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if h := c.readHook.Swap(nil); h != nil {
		close(*h)
	}
	return c.Conn.Read(p)
}

// corkSize is how much a corked connection gathers before writing.
const corkSize = 64 << 10

func (c *trackedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	c.wbuf = append(c.wbuf, p...)
	if len(c.wbuf) >= corkSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cork starts gathering writes; the returned function writes them out and
// stops gathering, and reports a write failure.
func (c *trackedConn) cork() func() error {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
	return func() error {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.corked = false
		return c.flushLocked()
	}
}

func (c *trackedConn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	_, err := c.Conn.Write(c.wbuf)
	c.Conn.SetWriteDeadline(time.Time{})
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > 4*corkSize {
		c.wbuf = nil
	}
	return err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.releaseIP(c.ip) })
	return err
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && time.Until(t) > 30*time.Minute {
		if c.idling.Load() {
			t = time.Now().Add(c.s.cfg.IdleTimeout)
		} else {
			t = time.Now().Add(c.s.cfg.AutoLogout)
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// underlying finds our trackedConn under the TLS layer, if any.
func underlying(c net.Conn) *trackedConn {
	for {
		switch x := c.(type) {
		case *trackedConn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		default:
			return nil
		}
	}
}

// wireLogger sends the wire library's messages to slog.
type wireLogger struct{ log *slog.Logger }

func (l wireLogger) Printf(format string, args ...any) {
	l.log.Warn("imap wire: " + fmt.Sprintf(format, args...))
}

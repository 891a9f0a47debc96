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
	"syscall"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
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
	// literals are limited to 64 KiB, command lines to 64 KiB and whole
	// commands to 1 MiB (imapwire.Limits).
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
	// IDLE every 29 minutes, RFC 2177). Before login a client has 60
	// seconds per command.
	AutoLogout  time.Duration
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake of an implicit-TLS
	// connection and of STARTTLS (default 10 seconds).
	HandshakeTimeout time.Duration
	// Location is the time zone of SEARCH dates (SINCE, BEFORE, ON...);
	// default UTC.
	Location *time.Location
	// Parse bounds the parsing of APPENDed messages.
	Parse msgmeta.Limits
	// FetchBatch is how many messages FETCH loads per store query (default 256).
	FetchBatch int
	// Version is the version ID (RFC 2971) answers with; default the
	// module version of the build, none when unknown.
	Version string
	// BinaryConvertLimit bounds a literal8 APPEND held in memory to have
	// its NUL-carrying parts re-encoded (default 16 MiB); a larger one
	// with a NUL is refused with NO [LIMIT] (binary.go).
	BinaryConvertLimit int64
}

func (c Config) withDefaults() Config {
	if c.AppendLimit == 0 {
		c.AppendLimit = 50 << 20
	}
	if c.BinaryConvertLimit <= 0 {
		c.BinaryConvertLimit = 16 << 20
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
	if c.Version == "" {
		c.Version = buildVersion()
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

	hub      *hub
	commands map[string]command
	// askStore: sessions ask the store for changes after every command,
	// not only when the broker reported one. For a shared (PostgreSQL)
	// store, where another node's changes arrive by a notification that may
	// come after the client's next command.
	askStore bool
	wg       sync.WaitGroup // connection goroutines
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
	s.commands = commandTable()
	if d, ok := d.Backend.(interface{ Dialect() string }); ok && d.Dialect() != "sqlite" {
		s.askStore = true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub = newHub(s.ctx, d.Backend, s.log)
	return s, nil
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
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("imapserver: server closed")
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.ctx.Done():
					return nil
				}
				continue
			}
			return err
		}
		backoff = 0
		ip := clientaddr.FromNet(c.RemoteAddr())
		if !s.acquireIP(ip) {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.refuse(c, implicitTLS)
			}()
			continue
		}
		tc := &trackedConn{Conn: c, s: s, ip: ip, id: strconv.FormatUint(s.nextID.Add(1), 36)}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(tc, implicitTLS)
		}()
	}
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
	s.wg.Wait()
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
// layer: it releases its per-IP slot once.
type trackedConn struct {
	net.Conn
	s    *Server
	ip   netip.Addr
	id   string
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.releaseIP(c.ip) })
	return err
}

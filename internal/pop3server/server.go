// Package pop3server is kantorpos's POP3 server: RFC 1939 with CAPA
// (RFC 2449), STLS (RFC 2595), AUTH PLAIN (RFC 5034) and implicit TLS on 995
// (RFC 8314). A session is a state machine AUTHORIZATION → TRANSACTION →
// UPDATE whose legal commands are a table (commands.go).
//
// The maildrop is the account's INBOX. At login the session takes a
// snapshot of it; DELE only marks, and the marked messages are removed in one
// store call when QUIT moves the session into the UPDATE state. A connection
// that ends any other way removes nothing.
//
// Choices where the RFCs leave room, documented here once:
//   - Commands may end in CRLF or a bare LF (lenient, as most servers are);
//     responses always end in CRLF, and message content is sent with every
//     line ending (CR, LF or CRLF) written as CRLF.
//   - RETR marks the message \Seen when the session QUITs (as Dovecot does by
//     default); TOP does not. Config.NoFlagUpdates turns it off.
//   - UIDL is the UID and UIDVALIDITY of the message as 16 upper-case hex
//     digits ("%08X%08X", Dovecot's default "%08Xu%08Xv"), so it is stable
//     across sessions and restarts and survives a migration that keeps both.
//   - Ports 110 and 995 are two Servers (Config.ImplicitTLS) sharing a
//     Backend and an Authenticator.
package pop3server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"

	"github.com/emersion/go-sasl"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Backend is the part of the store a POP3 session uses. store.Store
// satisfies it.
type Backend interface {
	// Mailbox finds the INBOX of an account.
	Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	FetchMessages(ctx context.Context, mailboxID int64, uids store.UIDSet, opts store.FetchOptions) ([]store.Message, error)
	OpenMessage(ctx context.Context, m *store.Message) (store.Content, error)
	UpdateFlags(ctx context.Context, mailboxID int64, uids store.UIDSet, op store.FlagOp, flags []string) ([]store.MessageState, error)
	// DeleteMessages removes messages atomically and durably.
	DeleteMessages(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error)
	LockMaildrop(ctx context.Context, accountID int64) (release func(), err error)
}

var _ Backend = store.Store(nil)

// Authenticator checks logins; *auth.Service satisfies it.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string, ip netip.Addr, proto string) (auth.Identity, error)
	SASL(ctx context.Context, mech string, ip netip.Addr, proto string, done func(auth.Identity)) (sasl.Server, bool)
}

var _ Authenticator = (*auth.Service)(nil)

// Config holds the settings of one POP3 listener. Zero fields take the
// defaults noted.
type Config struct {
	// Hostname is shown in the greeting.
	Hostname string
	// ImplicitTLS: the TLS handshake starts as soon as the client connects
	// (port 995). Otherwise STLS is offered when TLSConfig is set (port 110).
	ImplicitTLS bool
	// AllowInsecureAuth permits USER/PASS and AUTH without TLS (--dev on
	// loopback only).
	AllowInsecureAuth bool
	// MaxLineLength bounds a command line including CRLF. Default 4096 (an
	// AUTH PLAIN line with the longest credentials auth accepts); values
	// below RFC 2449's 255 are raised to 255.
	MaxLineLength int
	// Autologout is the inactivity timeout. Default 10 minutes, the minimum
	// of RFC 1939 section 3; lower values are for tests only.
	Autologout time.Duration
	// HandshakeTimeout bounds a TLS handshake. Default 30 seconds.
	HandshakeTimeout time.Duration
	// MaxBadCommands closes a connection after that many unknown, illegal
	// or malformed commands. Default 10.
	MaxBadCommands int
	// MaxAuthFailures closes a connection after that many failed logins.
	// Default 3. The auth.Limiter slows and refuses across connections.
	MaxAuthFailures int
	// MaxConnsPerIP caps simultaneous connections from one address.
	// Default 20; negative means no limit.
	MaxConnsPerIP int
	// NoFlagUpdates: RETR does not set \Seen.
	NoFlagUpdates bool
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname = "kantorpos"
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = 4096
	}
	c.MaxLineLength = max(c.MaxLineLength, 255) // RFC 2449 4
	if c.Autologout <= 0 {
		c.Autologout = 10 * time.Minute // RFC 1939 3
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 30 * time.Second
	}
	if c.MaxBadCommands <= 0 {
		c.MaxBadCommands = 10
	}
	if c.MaxAuthFailures <= 0 {
		c.MaxAuthFailures = 3
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 20
	}
	return c
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pop3server: server closed")

// Server serves POP3. Set the exported fields, then call Serve; the fields
// must not change afterwards.
type Server struct {
	Backend Backend
	Auth    Authenticator
	// TLSConfig enables STLS, or is used for every connection when
	// Config.ImplicitTLS is set. Its NextProtos defaults to "pop3" (ALPN).
	TLSConfig *tls.Config
	Clock     clock.Clock
	Log       *slog.Logger
	Config    Config
	// Events counts the commands (nil: not counted).
	Events *events.Log

	// noRecover lets tests see panics instead of logging them.
	noRecover bool

	initOnce sync.Once
	cfg      Config
	tlsConf  *tls.Config
	baseCtx  context.Context
	cancel   context.CancelFunc
	connID   atomic.Uint64

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
	wg        sync.WaitGroup
}

func (srv *Server) init() {
	srv.initOnce.Do(func() {
		srv.cfg = srv.Config.withDefaults()
		if srv.Clock == nil {
			srv.Clock = clock.Real{}
		}
		if srv.Log == nil {
			srv.Log = slog.New(slog.DiscardHandler)
		}
		if srv.TLSConfig != nil {
			srv.tlsConf = srv.TLSConfig.Clone()
			if len(srv.tlsConf.NextProtos) == 0 {
				srv.tlsConf.NextProtos = []string{"pop3"} // ALPACA
			}
			if srv.tlsConf.MinVersion == 0 {
				srv.tlsConf.MinVersion = tls.VersionTLS12
			}
		}
		srv.baseCtx, srv.cancel = context.WithCancel(context.Background())
		srv.listeners = map[net.Listener]struct{}{}
		srv.sessions = map[*session]struct{}{}
		srv.perIP = map[netip.Addr]int{}
	})
}

// Serve accepts connections on l until Shutdown, serving each in its own
// goroutine. It returns ErrServerClosed after Shutdown.
func (srv *Server) Serve(l net.Listener) error {
	srv.init()
	if srv.Config.ImplicitTLS && srv.tlsConf == nil {
		return errors.New("pop3server: ImplicitTLS without TLSConfig")
	}
	if srv.Backend == nil || srv.Auth == nil {
		return errors.New("pop3server: Backend and Auth are required")
	}
	srv.mu.Lock()
	if srv.closing {
		srv.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	srv.listeners[l] = struct{}{}
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		delete(srv.listeners, l)
		srv.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			srv.mu.Lock()
			closing := srv.closing
			srv.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				srv.Log.Warn("pop3: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("pop3server: accept: %w", err)
		}
		backoff = 0
		srv.startConn(c)
	}
}

// isTemporary reports a transient accept failure (out of file descriptors,
// connection aborted) worth retrying.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &te) && te.Temporary() || errors.As(err, &ne) && ne.Timeout()
}

func (srv *Server) startConn(c net.Conn) {
	ip := clientaddr.FromNet(c.RemoteAddr())
	srv.mu.Lock()
	if srv.closing {
		srv.mu.Unlock()
		c.Close()
		return
	}
	over := srv.cfg.MaxConnsPerIP > 0 && srv.perIP[ip] >= srv.cfg.MaxConnsPerIP
	if !over {
		srv.perIP[ip]++
	}
	srv.wg.Add(1)
	srv.mu.Unlock()

	go func() {
		defer srv.wg.Done()
		if over {
			srv.Log.Warn("pop3: too many connections", "ip", ip.String())
			if !srv.cfg.ImplicitTLS {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "-ERR [SYS/TEMP] Too many connections from your address\r\n")
			}
			c.Close()
			return
		}
		defer func() {
			srv.mu.Lock()
			if srv.perIP[ip]--; srv.perIP[ip] <= 0 {
				delete(srv.perIP, ip)
			}
			srv.mu.Unlock()
		}()
		srv.serveConn(c, ip)
	}()
}

func (srv *Server) serveConn(c net.Conn, ip netip.Addr) {
	id := srv.connID.Add(1)
	s := newSession(srv, c, ip, id)
	srv.mu.Lock()
	srv.sessions[s] = struct{}{}
	shutting := srv.closing
	srv.mu.Unlock()
	if shutting {
		s.dc.interrupt()
	}
	defer func() {
		srv.mu.Lock()
		delete(srv.sessions, s)
		srv.mu.Unlock()
	}()
	defer func() {
		if srv.noRecover {
			return
		}
		if r := recover(); r != nil {
			s.log.Error("pop3: panic in session", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.close()
		}
	}()
	s.serve()
}

// Shutdown stops accepting connections, asks every session to finish (idle
// sessions are told the server is going down; a session in a command
// finishes it), waits for them until ctx ends, then closes the rest. A
// session closed this way deletes nothing.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.init()
	srv.mu.Lock()
	srv.closing = true
	for l := range srv.listeners {
		l.Close()
	}
	for s := range srv.sessions {
		s.dc.interrupt()
	}
	srv.mu.Unlock()

	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		srv.cancel()
		return nil
	case <-ctx.Done():
	}
	srv.cancel()
	srv.mu.Lock()
	for s := range srv.sessions {
		s.close()
	}
	srv.mu.Unlock()
	<-done
	return ctx.Err()
}

// Package managesieve lets users manage their Sieve scripts with a Sieve
// client: ManageSieve (RFC 5804) with STARTTLS and AUTHENTICATE PLAIN
// through the shared login limiter (internal/auth). Scripts are checked by
// internal/sieve before they are stored, and stored in the store, so every
// node of a cluster sees them.
package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/clientaddr"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Backend is the store's script part; store.Store satisfies it.
type Backend interface {
	SieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error)
	SieveScript(ctx context.Context, accountID int64, name string) (store.SieveScript, error)
	PutSieveScript(ctx context.Context, accountID int64, name, content string) error
	ActivateSieveScript(ctx context.Context, accountID int64, name string) error
	DeleteSieveScript(ctx context.Context, accountID int64, name string) error
	RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error
}

var _ Backend = store.Store(nil)

// Authenticator gives SASL servers; *auth.Service satisfies it.
type Authenticator interface {
	SASL(ctx context.Context, mech string, ip netip.Addr, proto string, done func(auth.Identity)) (sasl.Server, bool)
}

var _ Authenticator = (*auth.Service)(nil)

// Config of a ManageSieve listener; zero fields take the defaults noted.
type Config struct {
	// AllowInsecureAuth permits AUTHENTICATE without TLS (--dev on loopback).
	AllowInsecureAuth bool
	// IdleTimeout closes a connection waiting for a command. Default 10 min.
	IdleTimeout time.Duration
	// MaxBadCommands closes a connection after that many bad commands. Default 10.
	MaxBadCommands int
	// MaxAuthFailures closes a connection after that many failed logins. Default 3.
	MaxAuthFailures int
	// MaxConnsPerIP caps simultaneous connections from one address. Default 20.
	MaxConnsPerIP int
	// MaxRedirects is advertised as MAXREDIRECTS (the interpreter's limit).
	MaxRedirects int
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
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

// ErrServerClosed is returned by Serve after Shutdown; it wraps
// net.ErrClosed.
var ErrServerClosed = fmt.Errorf("managesieve: server closed: %w", net.ErrClosed)

// Server serves ManageSieve. Set the fields, then Serve.
type Server struct {
	Backend Backend
	Auth    Authenticator
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	Log       *slog.Logger
	Config    Config

	once   sync.Once
	cfg    Config
	connID atomic.Uint64
	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]bool
	conns  map[net.Conn]bool
	perIP  map[netip.Addr]int
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func (srv *Server) init() {
	srv.once.Do(func() {
		srv.cfg = srv.Config.withDefaults()
		if srv.Log == nil {
			srv.Log = slog.New(slog.DiscardHandler)
		}
		srv.lns, srv.conns, srv.perIP = map[net.Listener]bool{}, map[net.Conn]bool{}, map[netip.Addr]int{}
		srv.ctx, srv.cancel = context.WithCancel(context.Background())
	})
}

// Serve accepts connections on l until Shutdown.
func (srv *Server) Serve(l net.Listener) error {
	srv.init()
	if srv.Backend == nil || srv.Auth == nil {
		return errors.New("managesieve: Backend and Auth are required")
	}
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	srv.lns[l] = true
	srv.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			srv.mu.Lock()
			closed := srv.closed
			srv.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("managesieve: accept: %w", err)
		}
		srv.start(c)
	}
}

func (srv *Server) start(c net.Conn) {
	ip := clientaddr.FromNet(c.RemoteAddr())
	srv.mu.Lock()
	if srv.closed || srv.cfg.MaxConnsPerIP > 0 && srv.perIP[ip] >= srv.cfg.MaxConnsPerIP {
		srv.mu.Unlock()
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "BYE (TRYLATER) \"Too many connections\"\r\n")
		c.Close()
		return
	}
	srv.perIP[ip]++
	srv.conns[c] = true
	srv.wg.Add(1)
	srv.mu.Unlock()
	go func() {
		defer srv.wg.Done()
		defer func() {
			srv.mu.Lock()
			if srv.perIP[ip]--; srv.perIP[ip] <= 0 {
				delete(srv.perIP, ip)
			}
			delete(srv.conns, c)
			srv.mu.Unlock()
		}()
		s := &session{srv: srv, c: c, ip: ip,
			log: srv.Log.With("conn", fmt.Sprintf("ms%d", srv.connID.Add(1)), "ip", ip.String())}
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("managesieve: panic", "panic", fmt.Sprint(r))
			}
			c.Close()
		}()
		s.serve()
	}()
}

// Shutdown stops accepting, wakes idle sessions (a command in progress
// finishes) and waits for them until ctx ends, then closes the rest.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.init()
	srv.mu.Lock()
	srv.closed = true
	for l := range srv.lns {
		l.Close()
	}
	for c := range srv.conns {
		c.SetReadDeadline(time.Now())
	}
	srv.mu.Unlock()
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		srv.mu.Lock()
		for c := range srv.conns {
			c.Close()
		}
		srv.mu.Unlock()
		<-done
	}
	srv.cancel()
	return nil
}

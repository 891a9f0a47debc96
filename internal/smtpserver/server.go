package smtpserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/netlimit"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Server serves one kind of SMTP listener. Create it with New, then call
// Serve for each listener of that kind and Shutdown to stop.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	clk  clock.Clock
	tls  *tls.Config // nil: no STARTTLS

	smtp     *smtp.Server
	idPrefix string
	connSeq  atomic.Uint64

	ctx    context.Context // cancelled by Shutdown's force-close
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners []*limitListener
	draining  atomic.Bool
}

// New checks cfg (after WithDefaults) and deps and returns a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Router == nil || deps.Deliverer == nil || deps.Blobs == nil:
		return nil, errors.New("smtpserver: Router, Deliverer and Blobs are required")
	case cfg.Kind.IsSubmission() && deps.Auth == nil:
		return nil, errors.New("smtpserver: submission needs an Authenticator")
	case cfg.Kind == SubmissionTLS && deps.TLS == nil:
		return nil, errors.New("smtpserver: implicit TLS needs a TLS config")
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Log, clk: deps.Clock}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("kind", cfg.Kind.String())
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.deps.Meta == nil {
		s.deps.Meta = func(r io.Reader) (*store.MessageMeta, error) { return msgmeta.Parse(r, msgmeta.Limits{}) }
	}
	if deps.TLS != nil {
		s.tls = serverTLS(deps.TLS)
	}
	var rnd [5]byte
	rand.Read(rnd[:])
	s.idPrefix = strings.ToLower(base32.StdEncoding.EncodeToString(rnd[:]))
	s.ctx, s.cancel = context.WithCancel(context.Background())

	gs := smtp.NewServer(smtp.BackendFunc(s.newSession))
	gs.Domain = cfg.Hostname
	gs.MaxMessageBytes = cfg.MaxMessageSize
	gs.MaxRecipients = cfg.MaxRecipients
	gs.MaxLineLength = cfg.MaxLineLength
	gs.ReadTimeout = cfg.CommandTimeout
	gs.WriteTimeout = cfg.WriteTimeout
	gs.TLSConfig = s.tls
	// We decide ourselves when AUTH is offered and allowed (session.go), so
	// that plaintext AUTH gets RFC 4954's 538 5.7.11.
	gs.AllowInsecureAuth = true
	gs.EnableSMTPUTF8 = true // RFC 6531
	gs.EnableDSN = true      // RFC 3461; parameters go into the queue
	gs.ErrorLog = errorLog{s.log}
	s.smtp = gs
	return s, nil
}

// serverTLS is our copy of the operator's TLS config: TLS 1.2 or later, ALPN
// "smtp" (a client offering only another protocol fails the handshake:
// ALPACA), and no session tickets (Microsoft's servers fail STARTTLS with
// Go's tickets; DESIGN.md "Security defaults").
func serverTLS(base *tls.Config) *tls.Config {
	c := base.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.NextProtos = []string{"smtp"}
	c.SessionTicketsDisabled = true
	return c
}

// Config returns the configuration in use (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Serve accepts connections on l until Shutdown. It returns nil after
// Shutdown and the accept error otherwise.
func (s *Server) Serve(l net.Listener) error {
	if s.draining.Load() {
		return smtp.ErrServerClosed
	}
	ll := newLimitListener(l, s)
	s.mu.Lock()
	s.listeners = append(s.listeners, ll)
	s.mu.Unlock()
	var gl net.Listener = ll
	if s.cfg.Kind == SubmissionTLS {
		// RFC 8314 3.3: the TLS handshake starts at once, and must end
		// within HandshakeTimeout; go-smtp gets the connection after it.
		gl = netlimit.NewTLSListener(ll, s.tls, s.cfg.HandshakeTimeout, s.log)
	}
	s.log.Info("smtp listening", "addr", l.Addr().String())
	err := s.smtp.Serve(gl)
	if s.draining.Load() {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes idle connections, lets transactions in
// progress finish until ctx ends, then closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.smtp.Shutdown(ctx) }()
	// Connections between transactions are closed now; the others are
	// closed after their transaction (session.go) or at the deadline.
	for _, c := range s.liveConns() {
		if !c.inTx.Load() {
			c.Close()
		}
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.cancel()
	for _, c := range s.liveConns() {
		c.Close()
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) liveConns() []*conn {
	s.mu.Lock()
	ls := append([]*limitListener(nil), s.listeners...)
	s.mu.Unlock()
	var out []*conn
	for _, l := range ls {
		out = append(out, l.snapshot()...)
	}
	return out
}

// ConnCount returns the number of open connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.listeners {
		n += l.count()
	}
	return n
}

// newConn wraps an accepted connection.
func (s *Server) newConn(nc net.Conn, ip netip.Addr) *conn {
	id := s.idPrefix + "-" + s.nextConnID()
	c := &conn{
		Conn:      nc,
		id:        id,
		ip:        ip,
		deadline:  s.clkNow().Add(s.cfg.SessionTimeout),
		log:       s.log.With("conn", id, "ip", ip.String()),
		hostname:  s.cfg.Hostname,
		hsTimeout: s.cfg.HandshakeTimeout,
	}
	if s.cfg.Kind != SubmissionTLS {
		c.guard = newCmdGuard()
	}
	// Bound the TLS handshake and the greeting too.
	c.SetDeadline(time.Now().Add(s.cfg.CommandTimeout))
	c.log.Info("connect", "remote", nc.RemoteAddr().String())
	return c
}

// clkNow is the wall clock for deadlines (net.Conn deadlines are real time
// even when tests fake the clock for dates).
func (s *Server) clkNow() time.Time { return time.Now() }

// errorLog sends go-smtp's internal errors (including recovered panics, with
// their stack) to slog. What a client caused (a failed TLS handshake from
// a scanner or an old client, a connection it dropped or let time out) is
// logged at INFO: ERROR is for our own faults, which someone must look at.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.write(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (e errorLog) Println(v ...any) {
	e.write(strings.TrimSpace(fmt.Sprintln(v...)))
}

func (e errorLog) write(msg string) {
	if clientCaused(msg) {
		e.log.Info("smtp: client connection failed", "err", msg)
		return
	}
	e.log.Error("smtp: " + msg)
}

// clientCaused says whether a go-smtp connection error comes from the
// client's side: TLS handshake failures, resets, timeouts, EOF.
func clientCaused(msg string) bool {
	if strings.HasPrefix(msg, "panic") {
		return false
	}
	for _, s := range []string{"tls: ", "remote error", "EOF", "connection reset", "broken pipe", "i/o timeout", "use of closed network connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/logfield"
)

// state is a POP3 session state (RFC 1939 3).
type state int

const (
	stateAuthorization state = iota
	stateUser                // AUTHORIZATION after a USER accepted: PASS or QUIT
	stateTransaction
	stateUpdate
)

func (st state) String() string {
	return [...]string{"AUTHORIZATION", "AUTHORIZATION+USER", "TRANSACTION", "UPDATE"}[st]
}

// respError is a negative reply: "-ERR [code] text". The client gets Text;
// Err (the cause, if any) goes to the log only.
type respError struct {
	Code  string // RFC 2449 / RFC 3206 response code, or ""
	Text  string
	Err   error
	Close bool // close the connection after the reply
	Bad   bool // counts towards Config.MaxBadCommands
}

func (e *respError) Error() string {
	if e.Err != nil {
		return e.Text + ": " + e.Err.Error()
	}
	return e.Text
}

func (e *respError) Unwrap() error { return e.Err }

// errCloseConn ends the session without a reply (the reply was sent, or the
// connection is unusable).
var errCloseConn = errors.New("close connection")

// errShutdown is returned by reads once the server shuts down.
var errShutdown = errors.New("server shutting down")

// session is one POP3 connection.
type session struct {
	srv  *Server
	cfg  *Config
	dc   *deadlineConn
	conn net.Conn // dc, or a *tls.Conn over it
	br   *bufio.Reader
	bw   *bufio.Writer
	log  *slog.Logger
	ip   netip.Addr
	ctx  context.Context
	stop context.CancelFunc

	isTLS        bool
	state        state
	user         string // from USER, waiting for PASS
	badCommands  int
	authFailures int
	drop         *maildrop // set in TRANSACTION
	copyBuf      []byte    // RETR/TOP copy buffer, allocated at first use
}

func newSession(srv *Server, c net.Conn, ip netip.Addr, id uint64) *session {
	dc := &deadlineConn{Conn: c, idle: srv.cfg.Autologout}
	ctx, cancel := context.WithCancel(srv.baseCtx)
	s := &session{
		srv:  srv,
		cfg:  &srv.cfg,
		dc:   dc,
		log:  srv.Log.With("conn", id, "remote", c.RemoteAddr().String()),
		ip:   ip,
		ctx:  ctx,
		stop: cancel,
	}
	s.setConn(dc)
	return s
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.br = bufio.NewReaderSize(c, s.cfg.MaxLineLength)
	s.bw = bufio.NewWriterSize(c, 32*1024)
}

// close ends the connection; safe to call more than once and from
// Shutdown's goroutine.
func (s *session) close() {
	s.stop()
	s.dc.Conn.Close()
}

func (s *session) serve() {
	start := s.srv.Clock.Now()
	s.log.Debug("pop3: connected", "tls", s.cfg.ImplicitTLS)
	defer func() {
		if s.drop != nil {
			// No QUIT: RFC 1939 6, nothing marked is deleted.
			s.log.Info("pop3: session ended without QUIT", "deleted_marked", s.drop.countDeleted())
			s.drop.close()
			s.drop = nil
		}
		s.close()
		s.log.Debug("pop3: disconnected", "duration", s.srv.Clock.Now().Sub(start))
	}()

	if s.cfg.ImplicitTLS {
		if err := s.handshake(); err != nil {
			return
		}
	}
	// RFC 1939 4: the greeting. No APOP timestamp: we do not offer APOP.
	s.reply("+OK %s POP3 server ready", s.cfg.Hostname)
	if s.flush() != nil {
		return
	}
	for {
		line, err := s.readLine()
		if err != nil {
			switch {
			case errors.Is(err, errLineTooLong):
				s.reply("-ERR Line too long")
			case errors.Is(err, errShutdown):
				s.reply("-ERR [SYS/TEMP] Server shutting down, try again later")
			case errors.Is(err, io.EOF):
			default:
				s.log.Debug("pop3: read", "err", err)
			}
			s.flush()
			return
		}
		if err := s.dispatch(line); err != nil {
			s.flush()
			return
		}
		// Pipelining (RFC 2449 6.6): answer in order, flush when no
		// complete command waits in the input buffer.
		if !s.lineBuffered() {
			if s.flush() != nil {
				return
			}
		}
	}
}

// handshake runs a TLS server handshake on the raw connection, bounded by
// Config.HandshakeTimeout.
func (s *session) handshake() error {
	tc := tls.Server(s.dc, s.srv.tlsConf)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Info("pop3: TLS handshake failed", "err", err)
		return err
	}
	st := tc.ConnectionState()
	s.log.Debug("pop3: TLS", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	s.isTLS = true
	s.setConn(tc)
	return nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads one command line of at most Config.MaxLineLength bytes
// including the line ending, and returns it without the ending. A bare LF
// ends a line too (lenient, like most POP3 servers).
func (s *session) readLine() (string, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > s.cfg.MaxLineLength {
		return "", errLineTooLong
	}
	if err != nil {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	return string(line), nil
}

// lineBuffered reports whether a complete command line waits in the input
// buffer.
func (s *session) lineBuffered() bool {
	n := s.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := s.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// reply writes one response line; errors surface at flush.
func (s *session) reply(format string, args ...any) {
	fmt.Fprintf(s.bw, format, args...)
	s.bw.WriteString("\r\n")
}

func (s *session) ok(format string, args ...any) error {
	s.reply("+OK "+format, args...)
	return nil
}

func (s *session) flush() error {
	if err := s.bw.Flush(); err != nil {
		s.log.Debug("pop3: write", "err", err)
		return errCloseConn
	}
	return nil
}

// deadlineConn renews the read and write deadlines before each I/O call
// (Config.Autologout), and fails reads once interrupt is called.
type deadlineConn struct {
	net.Conn
	idle time.Duration

	mu      sync.Mutex
	stopped bool
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return 0, errShutdown
	}
	c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if c.stopped {
			err = errShutdown
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}

// interrupt makes the pending and every later Read fail with errShutdown.
// Writes still work, so a session can say goodbye.
func (c *deadlineConn) interrupt() {
	c.mu.Lock()
	c.stopped = true
	c.Conn.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

// sanitize makes a client-supplied string safe for one log field.
func sanitize(s string) string { return logfield.Clean(s, 100) }

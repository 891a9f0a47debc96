package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/store"
)

// state is where a connection is in RFC 9051 §3.
type state uint8

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected
	stateLogout
)

// Timeouts that are not configurable.
const (
	preAuthTimeout = 60 * time.Second // per command before login
	writeTimeout   = 5 * time.Minute  // one response reaching the client
	maxErrors      = 10               // consecutive BAD replies before BYE
)

// session is one IMAP connection. One goroutine runs it: it reads a
// command, runs it and writes the reply. wmu is held while a command runs
// (and while IDLE writes an update), so that Shutdown's BYE is never
// written into the middle of a response.
type session struct {
	srv   *Server
	tc    *trackedConn
	ip    netip.Addr
	log   *slog.Logger
	ctx   context.Context
	start time.Time

	wmu  sync.Mutex
	conn net.Conn // tc, or TLS over it
	r    *imapwire.Reader
	w    *imapwire.Writer

	state    state
	tls      bool
	rev2     bool // ENABLE IMAP4rev2
	utf8     bool // ENABLE UTF8=ACCEPT
	account  auth.Identity
	failures int
	errors   int // consecutive failed commands
	sel      *selected
	byeAfter string // BYE to send once the reply is out
	changed  bool   // the command changed the selected mailbox
	idLogged bool   // the client's ID was logged (at INFO once)
	// scratch holds the start of a message during FETCH (from headerBufs,
	// returned when the FETCH ends, so that idle sessions hold none).
	scratch []byte

	busy    atomic.Bool
	byeSent atomic.Bool
}

// handle runs one connection from accept to close.
func (s *Server) handle(tc *trackedConn, implicitTLS bool) {
	defer tc.Close()
	var conn net.Conn = tc
	if implicitTLS {
		t := tls.Server(tc, s.tls)
		tc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
		if err := t.HandshakeContext(s.ctx); err != nil {
			s.log.Debug("TLS handshake", "ip", tc.ip.String(), "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		conn = t
	}
	sess := &session{
		srv: s, tc: tc, ip: tc.ip, ctx: s.ctx, start: time.Now(), tls: implicitTLS, state: stateNotAuth,
		log: s.log.With("conn", tc.id, "ip", tc.ip.String()),
	}
	sess.setConn(conn)
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.sessions[sess] = struct{}{}
	}
	s.mu.Unlock()
	if closing {
		sess.w.Untagged("BYE", "UNAVAILABLE", "Server shutting down")
		sess.w.Flush()
		return
	}
	defer sess.close()
	defer func() {
		if v := recover(); v != nil {
			sess.log.Error("panic in IMAP session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	sess.log.Info("connected")
	sess.run()
}

// setConn (re)makes the reader and writer over conn (at the start and
// after STARTTLS).
func (s *session) setConn(conn net.Conn) {
	s.conn = conn
	s.r = imapwire.NewReader(bufio.NewReaderSize(conn, 4096), imapwire.Limits{
		MaxLiteral: 48 << 10, // a password, a mailbox name, a search string
		MaxDiscard: max(1<<20, int64(s.srv.cfg.AppendLimit)),
	})
	s.r.Continue = func() error {
		s.w.Continue("Ready")
		return s.w.Flush()
	}
	s.w = imapwire.NewWriter(bufio.NewWriterSize(conn, 4096))
	s.w.UTF8 = s.utf8
}

// close releases what the session holds.
func (s *session) close() {
	s.unselect()
	if s.account.AccountID != 0 {
		s.srv.releaseAccount(s.account.AccountID)
	}
	s.srv.mu.Lock()
	delete(s.srv.sessions, s)
	s.srv.mu.Unlock()
	s.log.Info("disconnected", "duration", time.Since(s.start).Round(time.Millisecond))
}

// run reads and runs commands until LOGOUT, an error or shutdown.
func (s *session) run() {
	s.wmu.Lock()
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	s.w.Raw("* OK [CAPABILITY ").Raw(s.capabilities()).Raw("] kantorpos IMAP server ready\r\n")
	err := s.w.Flush()
	s.wmu.Unlock()
	if err != nil {
		return
	}
	for s.state != stateLogout {
		s.setReadDeadline(false)
		tag, name, err := s.r.Begin()
		s.wmu.Lock()
		s.busy.Store(true)
		s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		var perr *imapwire.Error
		switch {
		case err == nil:
			s.execute(tag, name)
		case errors.As(err, &perr):
			s.w.Tagged(tag, perr.Status, perr.Code, perr.Text)
			s.failed(perr)
			if s.r.Discard() != nil || s.state == stateNotAuth && s.r.LineTooLong() {
				s.byeAfter = "Protocol error"
			}
		default:
			s.readFailed(err)
		}
		if s.byeAfter != "" && !s.byeSent.Swap(true) {
			s.w.Untagged("BYE", "", s.byeAfter)
			s.state = stateLogout
		}
		ferr := s.w.Flush()
		s.busy.Store(false)
		s.wmu.Unlock()
		if ferr != nil {
			return
		}
	}
}

// readFailed ends the session after a read error: a timeout gets BYE, a
// stream out of step too; a closed connection nothing.
func (s *session) readFailed(err error) {
	s.state = stateLogout
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		s.byeAfter = "Autologout: idle for too long"
	case errors.Is(err, imapwire.ErrFatal):
		s.log.Warn("closing: stream out of step", "err", err)
		s.byeAfter = "Protocol error"
	}
}

// failed counts commands refused as BAD; too many in a row end the
// session.
func (s *session) failed(e *imapwire.Error) {
	if e.Status != "BAD" {
		s.errors = 0
		return
	}
	if s.errors++; s.errors >= maxErrors {
		s.byeAfter = "Too many invalid commands"
	}
}

func (s *session) setReadDeadline(idle bool) {
	d := s.srv.cfg.AutoLogout
	switch {
	case idle:
		d = s.srv.cfg.IdleTimeout
	case s.state == stateNotAuth:
		d = preAuthTimeout
	}
	s.conn.SetReadDeadline(time.Now().Add(d))
}

// okReply is a tagged OK with a response code (APPENDUID, COPYUID,
// READ-WRITE...).
type okReply struct{ code, text string }

func (o *okReply) Error() string { return "OK [" + o.code + "] " + o.text }

// execute runs one command and writes its tagged reply, preceded by the
// mailbox updates the command allows.
func (s *session) execute(tag, name string) {
	cmd, ok := s.srv.commands[name]
	var res error
	switch {
	case !ok && isHTTP(tag, name, s.r):
		// A browser or another protocol (ALPACA): not an IMAP client.
		s.byeAfter = "This is an IMAP server"
		return
	case !ok:
		res = &imapwire.Error{Status: "BAD", Text: "Unknown command"}
	case cmd.states&s.state == 0:
		res = &imapwire.Error{Status: "BAD", Text: "Command not allowed in this state"}
	default:
		s.changed = false
		res = cmd.fn(s, tag)
	}
	if res == error(errReplied) {
		s.errors = 0
		return
	}
	status, code, text := "OK", "", ""
	if ok {
		text = strings.ToUpper(name) + " completed"
	}
	var perr *imapwire.Error
	var okr *okReply
	switch {
	case res == nil:
		s.errors = 0
	case errors.As(res, &okr):
		s.errors = 0
		code, text = okr.code, okr.text
	case errors.As(res, &perr):
		status, code, text = perr.Status, perr.Code, perr.Text
		s.failed(perr)
		if s.r.Discard() != nil {
			s.byeAfter = "Protocol error"
		}
	default:
		// Reading the command or writing the reply failed: the connection
		// is gone or out of step.
		s.readFailed(res)
		if s.byeAfter == "" && !errors.Is(res, errConnGone) {
			s.log.Warn("command failed", "command", name, "err", res)
		}
		return
	}
	if s.sel != nil && s.state == stateSelected {
		box := s.sel.view.box
		var err error
		if s.changed || s.srv.askStore {
			err = box.sync(s.ctx, nil) // our own change: see it now
		} else {
			err = box.syncIfNews(s.ctx)
		}
		if err != nil {
			s.log.Warn("poll: sync", "err", err)
		}
		s.sel.view.flush(s.w, ok && !cmd.seqNums)
	}
	s.w.Tagged(tag, status, code, text)
}

// errConnGone reports that the client connection failed.
var errConnGone = errors.New("imapserver: connection failed")

// isHTTP recognises an HTTP request line ("GET / HTTP/1.1": the method
// reads as the tag).
func isHTTP(tag, name string, r *imapwire.Reader) bool {
	switch tag {
	case "GET", "POST", "PUT", "HEAD", "OPTIONS", "CONNECT", "DELETE":
		return strings.HasPrefix(name, "/") && strings.Contains(r.Rest(), " HTTP/")
	}
	return false
}

// bye says BYE and closes the connection (once); for Shutdown, on a
// session between commands.
func (s *session) bye(text string) {
	if !s.byeSent.CompareAndSwap(false, true) {
		return
	}
	go func() {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		s.w.Untagged("BYE", "", text)
		s.w.Flush()
		s.conn.Close()
	}()
}

// arg helpers: each reads one argument after a space.

func (s *session) spMailbox() (string, error) {
	if err := s.r.SP(); err != nil {
		return "", err
	}
	return s.mailboxArg()
}

// mailboxArg reads a mailbox name: modified UTF-7 decoded, canonical
// (INBOX, NFC) and checked. A name that does not decode is NO [CANNOT]
// like any other name we refuse.
func (s *session) mailboxArg() (string, error) {
	name, err := s.rawMailboxArg()
	if err != nil {
		return "", err
	}
	return mailboxName(name)
}

// rawMailboxArg reads a mailbox name and decodes it, without checks.
func (s *session) rawMailboxArg() (string, error) {
	raw, err := s.r.AString()
	if err != nil {
		return "", err
	}
	name, err := imapwire.DecodeMailbox(raw, s.utf8)
	if err != nil {
		return "", badName
	}
	return name, nil
}

func no(code, text string) *imapwire.Error {
	return &imapwire.Error{Status: "NO", Code: code, Text: text}
}

func bad(text string) *imapwire.Error { return &imapwire.Error{Status: "BAD", Text: text} }

// storeErr maps a store error to a reply: clients get a generic text, the
// log gets the detail.
func (s *session) storeErr(op string, err error) error {
	var perr *imapwire.Error
	switch {
	case errors.As(err, &perr):
		return err
	case errors.Is(err, store.ErrNotFound):
		return no("NONEXISTENT", "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, store.ErrInvalidName):
		return no("CANNOT", "Invalid mailbox name")
	case errors.Is(err, store.ErrQuotaExceeded):
		return no("OVERQUOTA", "Quota exceeded")
	case blob.IsNoSpace(err):
		s.log.Error(op+": disk full", "err", err)
		return no("LIMIT", "Not enough disk space, try again later")
	case errors.Is(err, context.Canceled):
		return no("UNAVAILABLE", "Server shutting down")
	}
	s.log.Error(op, "err", err)
	return no("UNAVAILABLE", "Temporary failure, try again later")
}

// badName is the reply to a mailbox name we refuse.
var badName = no("CANNOT", "Invalid mailbox name")

// mailboxName checks and canonicalises a decoded name from the client;
// names are kept in Unicode NFC, so a client that sends decomposed accents
// finds the same mailbox.
func mailboxName(name string) (string, error) {
	name = store.CanonicalName(norm.NFC.String(name))
	if err := store.ValidMailboxName(name); err != nil {
		return "", badName
	}
	return name, nil
}

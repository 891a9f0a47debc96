package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// session is one EHLO..QUIT (or ..STARTTLS) span of a connection. go-smtp
// calls its methods from the connection's goroutine (Data for BDAT from a
// second one, never concurrently with the others).
type session struct {
	srv     *Server
	c       *conn
	netConn net.Conn // *conn or *tls.Conn over it
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	helo    string
	tls     *tls.ConnectionState

	identity  *auth.Identity
	tx        *transaction
	lastTouch time.Time
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// newSession is go-smtp's Backend: called at the first HELO/EHLO (and the
// first one after STARTTLS).
func (s *Server) newSession(sc *smtp.Conn) (smtp.Session, error) {
	c := baseConn(sc.Conn())
	if c == nil {
		return nil, errors.New("internal error: unexpected connection type")
	}
	helo := sc.Hostname()
	if !validHELO(helo) {
		c.log.Info("bad HELO", "helo", sanitize(helo))
		return nil, errHELOSyntax
	}
	if s.draining.Load() {
		c.closeAfterReply()
		return nil, errShuttingDown
	}
	ss := &session{srv: s, c: c, netConn: sc.Conn(), helo: helo}
	ss.ctx, ss.cancel = context.WithCancel(s.ctx)
	attrs := []any{"helo", sanitize(helo)}
	if st, ok := sc.TLSConnectionState(); ok {
		ss.tls = &st
		attrs = append(attrs, "tls", tls.VersionName(st.Version))
	}
	ss.log = c.log.With(attrs...)
	ss.log.Debug("session start")
	return ss, nil
}

// validHELO accepts any printable argument: the value only goes into our
// Received header (sanitised), but control characters are an injection
// attempt (security.md 1.6).
func validHELO(h string) bool {
	if h == "" || len(h) > 255 || !utf8.ValidString(h) {
		return false
	}
	for i := 0; i < len(h); i++ {
		if h[i] < 0x21 || h[i] == 0x7f {
			return false
		}
	}
	return true
}

// parsePath parses a MAIL or RCPT path as go-smtp passes it on. go-smtp
// has already removed the quotes of a quoted local part: <"a.b"@x> arrives
// as a.b@x, and <"\"a b\""@x> (local part `"a b"`) as "a b"@x, which
// mailaddr would unquote once more into a different address. So only a
// dot-atom local part is accepted: a quoted form that means the same
// (RFC 5322 3.4.1) is accepted as that dot-atom, and a local part that needs
// quoting ("<script>", spaces, "@", quotes) is refused with 553, since the
// address the client wrote can no longer be told apart (issue 19 item 15).
// We define no mailbox that needs quoting (RFC 5321 4.1.2 says a host
// SHOULD NOT), so no recipient of ours is lost; a sender with such an
// address is refused rather than recorded as someone else.
func parsePath(p string) (mailaddr.Address, error) {
	if strings.HasPrefix(p, `"`) {
		return mailaddr.Address{}, fmt.Errorf("%w: quoted local part", mailaddr.ErrSyntax)
	}
	return mailaddr.Parse(p)
}

func (s *session) submission() bool { return s.srv.cfg.Kind.IsSubmission() }

// guard recovers a panic in a session method: it is logged with the stack
// and closes this connection only.
func (s *session) guard(errp *error) {
	if r := recover(); r != nil {
		s.log.Error("panic in session", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		s.c.closeAfterReply()
		*errp = errInternalPanic
	}
}

// Reset implements smtp.Session (RSET, a new EHLO, the end of DATA).
func (s *session) Reset() {
	s.tx = nil
	s.c.inTx.Store(false)
	if s.srv.draining.Load() {
		s.c.Close()
	}
}

// Logout implements smtp.Session (QUIT, close, STARTTLS).
func (s *session) Logout() error {
	s.tx = nil
	s.c.inTx.Store(false)
	s.cancel()
	return nil
}

// AuthMechanisms implements smtp.AuthSession: what EHLO advertises.
// RFC 4954 4: no plaintext mechanisms without TLS unless the operator opts in.
func (s *session) AuthMechanisms() []string {
	if !s.submission() || s.identity != nil || (s.tls == nil && !s.srv.cfg.AllowInsecureAuth) {
		return nil
	}
	return []string{auth.Plain, auth.Login}
}

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (srv sasl.Server, err error) {
	defer s.guard(&err)
	switch {
	case !s.submission():
		return nil, errAuthNotOffered
	case s.tx != nil: // RFC 4954 4: not during a mail transaction
		return nil, errAuthInTransaction
	case s.tls == nil && !s.srv.cfg.AllowInsecureAuth:
		return nil, errEncryptionRequired
	}
	inner, ok := s.srv.deps.Auth.SASL(s.ctx, mech, s.c.ip, "smtp", func(id auth.Identity) {
		s.identity = &id
		s.log = s.log.With("user", id.Address)
	})
	if !ok {
		return nil, errAuthMechanism
	}
	return &saslServer{inner: inner, s: s}, nil
}

// saslServer maps auth's errors to replies and counts failures.
type saslServer struct {
	inner sasl.Server
	s     *session
}

func (p *saslServer) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := p.inner.Next(resp)
	if err == nil {
		if done && p.s.identity != nil {
			p.s.log.Info("authenticated")
		}
		return ch, done, nil
	}
	s := p.s
	var r *smtp.SMTPError
	switch {
	case errors.Is(err, auth.ErrTooManyFailures):
		r = errAuthTooMany
		s.c.closeAfterReply()
	case errors.Is(err, auth.ErrTemporary), errors.Is(err, context.Canceled):
		return nil, true, errAuthTemporary
	case errors.Is(err, auth.ErrMalformed):
		r = errAuthMalformed
	default:
		r = errAuthFailed
	}
	n := s.c.authFailures.Add(1)
	if errors.Is(err, auth.ErrMalformed) {
		// The exchange never reached the auth service: counted here.
		s.srv.deps.Events.AuthFailed(s.log, "smtp", false, "auth failed", "proto", "smtp", "failures", n, "reason", err.Error())
	} else {
		// The auth service logged and counted the failure; this line
		// adds the session's count.
		s.log.Info("auth failed", "proto", "smtp", "failures", n, "reason", err.Error())
	}
	if int(n) >= s.srv.cfg.MaxAuthFailures {
		s.c.closeAfterReply()
		return nil, true, errAuthTooMany
	}
	return nil, true, r
}

// Mail implements smtp.Session: MAIL FROM.
func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer s.guard(&err)
	if s.srv.draining.Load() {
		s.c.closeAfterReply()
		return errShuttingDown
	}
	if s.submission() && s.identity == nil {
		return errAuthRequired // RFC 6409 4.3
	}
	var addr mailaddr.Address
	if from != "" {
		addr, err = parsePath(from)
		if err != nil {
			s.log.Info("bad sender", "from", sanitize(from), "err", err)
			return errSenderSyntax
		}
		if !opts.UTF8 && !addr.IsASCII() {
			return errNeedSMTPUTF8
		}
		if s.submission() {
			ok, err := s.owns(addr)
			if err != nil {
				s.log.Error("sender check", "err", err)
				return errUnavailable
			}
			if !ok {
				s.log.Info("sender not owned", "from", addr.String())
				return errSenderNotOwn
			}
		}
	}
	// Refuse early when the disk cannot take the message (RFC 1870 SIZE).
	if err := s.srv.deps.Blobs.CheckSpace(max(opts.Size, 0)); err != nil {
		if blob.IsNoSpace(err) {
			s.log.Warn("disk full at MAIL", "err", err)
			return errNoStorage
		}
	}
	s.tx = newTransaction(from, addr, opts)
	s.c.inTx.Store(true)
	s.log.Debug("mail from", "from", sanitize(from), "tx", s.tx.id)
	return nil
}

// Rcpt implements smtp.Session: RCPT TO.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) (err error) {
	defer s.guard(&err)
	if s.tx == nil {
		return errors.New("internal error: RCPT without transaction")
	}
	if err := s.addRecipient(to, opts); err != nil {
		var r *smtp.SMTPError
		if errors.As(err, &r) && r.Code >= 500 {
			n := s.c.badRcpts.Add(1)
			s.srv.deps.Events.MessageRejected(s.log, r.Code, "tx", s.tx.id, "from", sanitize(s.tx.from), "rcpt", sanitize(to), "code", r.Code, "reason", r.Message)
			if int(n) >= s.srv.cfg.MaxBadRecipients {
				s.c.closeAfterReply()
				return errTooManyBad
			}
		}
		return err
	}
	return nil
}

// Data implements smtp.Session for DATA and BDAT.
func (s *session) Data(r io.Reader) (err error) {
	defer s.guard(&err)
	return s.data(r)
}

// touchData extends the read deadline while message content flows
// (go-smtp sets it once per command line).
func (s *session) touchData() {
	now := time.Now()
	if now.Sub(s.lastTouch) < time.Second {
		return
	}
	s.lastTouch = now
	s.netConn.SetReadDeadline(now.Add(s.srv.cfg.DataTimeout))
}

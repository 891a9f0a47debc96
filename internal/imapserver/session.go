package imapserver

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
	"golang.org/x/text/unicode/norm"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
)

// session is one IMAP connection. The wire library calls its methods one
// at a time (Idle runs alone), so its fields need no lock; busy and the
// byeSent flag are read by Shutdown.
type session struct {
	srv   *Server
	conn  *imapserver.Conn
	tc    *trackedConn
	ip    netip.Addr
	log   *slog.Logger
	ctx   context.Context
	start time.Time

	account  auth.Identity // zero until login
	failures int
	sel      *selected
	// scratch holds the start of a message during FETCH (from headerBufs,
	// returned when the FETCH ends, so that idle sessions hold none).
	scratch []byte
	// idleMu keeps Close from tearing sel down under Idle: when the
	// connection drops during IDLE, the wire library closes the session
	// without waiting for the Idle goroutine.
	idleMu sync.Mutex

	busy    atomic.Bool
	byeSent atomic.Bool
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	tc := underlying(conn.NetConn())
	if tc == nil {
		return nil, nil, errors.New("imapserver: connection not accepted by our listener")
	}
	sess := &session{
		srv: s, conn: conn, tc: tc, ip: tc.ip, ctx: s.ctx, start: time.Now(),
		log: s.log.With("conn", tc.id, "ip", tc.ip.String()),
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.sessions[sess] = struct{}{}
	}
	s.mu.Unlock()
	if closing {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	sess.log.Info("connected")
	return sess, nil, nil
}

// enter marks the session busy for the duration of a command (Shutdown
// waits for busy sessions); use as defer s.enter()().
func (s *session) enter() func() {
	s.busy.Store(true)
	return func() { s.busy.Store(false) }
}

// bye says BYE and closes the connection (once).
func (s *session) bye(text string) {
	if s.byeSent.CompareAndSwap(false, true) {
		go s.conn.Bye(text)
	}
}

// byeAfterReply says BYE once the reply to the current command is out:
// when the wire library next reads from the connection, or after a second.
func (s *session) byeAfterReply(text string) {
	if !s.byeSent.CompareAndSwap(false, true) {
		return
	}
	read := make(chan struct{})
	s.tc.readHook.Store(&read)
	go func() {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-read:
		case <-t.C:
		}
		s.conn.Bye(text)
	}()
}

// Close implements imapserver.Session.
func (s *session) Close() error {
	s.idleMu.Lock()
	s.unselect()
	s.idleMu.Unlock()
	if s.account.AccountID != 0 {
		s.srv.releaseAccount(s.account.AccountID)
	}
	s.srv.mu.Lock()
	delete(s.srv.sessions, s)
	s.srv.mu.Unlock()
	s.log.Info("disconnected", "duration", time.Since(s.start).Round(time.Millisecond))
	return nil
}

// Login implements imapserver.Session (the wire library refuses it before
// TLS unless AllowInsecureAuth).
func (s *session) Login(username, password string) error {
	defer s.enter()()
	if s.failures >= s.srv.cfg.MaxLoginFailures {
		return imapserver.ErrAuthFailed // pipelined after the last allowed attempt
	}
	id, err := s.srv.auth.Authenticate(s.ctx, username, password, s.ip, "imap")
	if err != nil {
		return s.loginFailed(err)
	}
	return s.loggedIn(id)
}

func (s *session) loggedIn(id auth.Identity) error {
	if !s.srv.acquireAccount(id.AccountID) {
		s.log.Warn("login refused: too many sessions", "account", id.Address)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: "Too many connections for this account"}
	}
	s.account = id
	s.log = s.log.With("account", id.Address)
	s.log.Info("login")
	return nil
}

// loginFailed maps an auth error to a reply; after MaxLoginFailures the
// connection is closed.
func (s *session) loginFailed(err error) error {
	switch {
	case errors.Is(err, auth.ErrTooManyFailures):
		s.byeAfterReply("Too many failed logins")
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed,
			Text: "Too many failed logins, try again later"}
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrMalformed):
		s.failures++
		if s.failures >= s.srv.cfg.MaxLoginFailures {
			s.byeAfterReply("Too many failed logins")
		}
		return imapserver.ErrAuthFailed
	default:
		s.log.Warn("login: temporary failure", "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: "Temporary failure, try again later"}
	}
}

// AuthenticateMechanisms implements imapserver.SessionSASL.
func (s *session) AuthenticateMechanisms() []string { return []string{auth.Plain, auth.Login} }

// Authenticate implements imapserver.SessionSASL: PLAIN (with SASL-IR) and
// LOGIN through the shared auth service, which refuses an authorization
// identity other than the authenticated one.
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if s.failures >= s.srv.cfg.MaxLoginFailures {
		return nil, imapserver.ErrAuthFailed
	}
	var id auth.Identity
	srv, ok := s.srv.auth.SASL(s.ctx, mech, s.ip, "imap", func(i auth.Identity) { id = i })
	if !ok {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported SASL mechanism"}
	}
	return &saslServer{s: s, srv: srv, id: &id}, nil
}

type saslServer struct {
	s   *session
	srv sasl.Server
	id  *auth.Identity
}

func (a *saslServer) Next(resp []byte) ([]byte, bool, error) {
	defer a.s.enter()()
	challenge, done, err := a.srv.Next(resp)
	if err != nil {
		return nil, true, a.s.loginFailed(err)
	}
	if done {
		if a.id.AccountID == 0 {
			return nil, true, imapserver.ErrAuthFailed
		}
		if err := a.s.loggedIn(*a.id); err != nil {
			return nil, true, err
		}
	}
	return challenge, done, nil
}

// Namespace implements imapserver.SessionNamespace: one personal
// namespace, "/" separated (RFC 2342).
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: store.HierarchySep}}}, nil
}

// AppendLimit implements imapserver.SessionAppendLimit.
func (s *session) AppendLimit() uint32 { return s.srv.cfg.AppendLimit }

// storeErr maps a store error to a reply: clients get a generic text, the
// log gets the detail.
func (s *session) storeErr(op string, err error) error {
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrInvalidName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, store.ErrQuotaExceeded):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded")
	case blob.IsNoSpace(err):
		s.log.Error(op+": disk full", "err", err)
		return no(imap.ResponseCodeLimit, "Not enough disk space, try again later")
	case errors.Is(err, context.Canceled):
		return no(imap.ResponseCodeUnavailable, "Server shutting down")
	}
	s.log.Error(op, "err", err)
	return no(imap.ResponseCodeUnavailable, "Temporary failure, try again later")
}

// badName is the reply to a mailbox name we refuse.
var badName = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}

// mailboxName checks and canonicalises a name from the client (the wire
// library has already decoded modified UTF-7); names are kept in Unicode
// NFC, so a client that sends decomposed accents finds the same mailbox.
func mailboxName(name string) (string, error) {
	name = store.CanonicalName(norm.NFC.String(name))
	if err := store.ValidMailboxName(name); err != nil {
		return "", badName
	}
	return name, nil
}

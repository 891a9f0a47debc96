package imapserver

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
)

var errAuthFailed = no("AUTHENTICATIONFAILED", "Authentication failed")

// authAllowed refuses authentication in the clear unless configured
// (RFC 9051 §6.2.3, LOGINDISABLED); checked before any argument is read,
// so a password literal is never invited.
func (s *session) authAllowed() error {
	if !s.tls && !s.srv.cfg.AllowInsecureAuth {
		return no("PRIVACYREQUIRED", "Use STARTTLS or port 993 first")
	}
	if s.failures >= s.srv.cfg.MaxLoginFailures {
		return errAuthFailed // pipelined after the last allowed attempt
	}
	return nil
}

// cmdLogin: LOGIN userid password (RFC 9051 §6.2.3).
func cmdLogin(s *session, _ string) error {
	if err := s.authAllowed(); err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	user, err := s.r.AString()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	pass, err := s.r.AString()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	id, err := s.srv.auth.Authenticate(s.ctx, user, pass, s.ip, "imap")
	if err != nil {
		return s.loginFailed(err)
	}
	return s.loggedIn(id)
}

func (s *session) loggedIn(id auth.Identity) error {
	if !s.srv.acquireAccount(id.AccountID) {
		s.log.Warn("login refused: too many sessions", "account", id.Address)
		return no("UNAVAILABLE", "Too many connections for this account")
	}
	s.account = id
	s.state = stateAuth
	s.log = s.log.With("account", id.Address)
	s.log.Info("login")
	return &okReply{code: "CAPABILITY " + s.capabilities(), text: "Logged in"}
}

// loginFailed maps an auth error to a reply; after MaxLoginFailures the
// connection is closed.
func (s *session) loginFailed(err error) error {
	switch {
	case errors.Is(err, auth.ErrTooManyFailures):
		s.byeAfter = "Too many failed logins"
		return no("AUTHENTICATIONFAILED", "Too many failed logins, try again later")
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrMalformed):
		s.failures++
		if s.failures >= s.srv.cfg.MaxLoginFailures {
			s.byeAfter = "Too many failed logins"
		}
		return errAuthFailed
	default:
		s.log.Warn("login: temporary failure", "err", err)
		return no("UNAVAILABLE", "Temporary failure, try again later")
	}
}

// cmdAuthenticate: AUTHENTICATE mechanism [initial-response] (RFC 9051
// §6.2.2, SASL-IR RFC 4959), PLAIN and LOGIN through the shared auth
// service, which refuses an authorization identity other than the
// authenticated one.
func cmdAuthenticate(s *session, _ string) error {
	if err := s.authAllowed(); err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	mech, err := s.r.Atom()
	if err != nil {
		return err
	}
	var resp []byte
	haveIR := false
	if s.r.TryByte(' ') {
		ir, err := s.r.Atom()
		if err != nil {
			return err
		}
		if resp, err = decodeSASL(ir); err != nil {
			return err
		}
		haveIR = true
	}
	if err := s.r.End(); err != nil {
		return err
	}
	var id auth.Identity
	srv, ok := s.srv.auth.SASL(s.ctx, strings.ToUpper(mech), s.ip, "imap", func(i auth.Identity) { id = i })
	if !ok {
		return no("", "Unsupported SASL mechanism")
	}
	for round := 0; ; round++ {
		if round > 10 {
			return bad("Too many SASL rounds")
		}
		var in []byte
		if haveIR || round > 0 {
			in = resp
		}
		challenge, done, err := srv.Next(in)
		if err != nil {
			return s.loginFailed(err)
		}
		if done {
			if id.AccountID == 0 {
				return errAuthFailed
			}
			return s.loggedIn(id)
		}
		s.w.Raw("+ ").Raw(base64.StdEncoding.EncodeToString(challenge)).CRLF()
		if err := s.w.Flush(); err != nil {
			return errConnGone
		}
		s.setReadDeadline(false)
		line, err := s.r.ReadLine()
		if err != nil {
			return err
		}
		if line == "*" {
			return bad("Authentication cancelled")
		}
		if resp, err = decodeSASL(line); err != nil {
			return err
		}
	}
}

// decodeSASL decodes a base64 SASL response; "=" is an empty one.
func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &imapwire.Error{Status: "BAD", Text: "Invalid base64"}
	}
	return b, nil
}

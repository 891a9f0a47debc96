package pop3server

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// authAllowed reports whether passwords may be sent on this connection
// (RFC 2595 2.2, security notes 1.7).
func (s *session) authAllowed() bool {
	return s.isTLS || s.cfg.AllowInsecureAuth
}

func errNeedTLS() error {
	return &respError{Code: "AUTH", Text: "Plaintext authentication disallowed on non-secure connections: use STLS first"}
}

// cmdCAPA lists capabilities (RFC 2449 5). After STLS the client must ask
// again (RFC 2595 4); inside TLS, STLS is no longer listed.
func (s *session) cmdCAPA(_ []string, _ string) error {
	s.reply("+OK Capability list follows")
	for _, c := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"} {
		s.reply("%s", c)
	}
	if s.state != stateTransaction && s.authAllowed() {
		s.reply("USER")
		s.reply("SASL %s", auth.Plain)
	}
	if s.state == stateAuthorization && !s.isTLS && s.srv.tlsConf != nil {
		s.reply("STLS")
	}
	s.reply("IMPLEMENTATION kantorpos")
	s.reply(".")
	return nil
}

// cmdSTLS starts TLS (RFC 2595 4). Whatever the client sent after STLS
// in plaintext is discarded, never run inside TLS (CVE-2011-0411 class).
func (s *session) cmdSTLS(_ []string, _ string) error {
	if s.isTLS {
		return &respError{Text: "Already using TLS"}
	}
	if s.srv.tlsConf == nil {
		return &respError{Text: "STLS not available"}
	}
	s.reply("+OK Begin TLS negotiation")
	if err := s.flush(); err != nil {
		return err
	}
	if n := s.br.Buffered(); n > 0 {
		s.log.Warn("pop3: discarding plaintext sent after STLS", "bytes", n)
	}
	if err := s.handshake(); err != nil { // replaces s.br: the old buffer is dropped
		return errCloseConn
	}
	s.user = ""
	s.state = stateAuthorization
	return nil
}

// cmdUSER names the user (RFC 1939 7). The reply never tells whether the
// user exists.
func (s *session) cmdUSER(args []string, _ string) error {
	if !s.authAllowed() {
		return errNeedTLS()
	}
	s.user = args[0]
	s.state = stateUser
	return s.ok("Send your password")
}

// cmdPASS completes USER/PASS (RFC 1939 7).
func (s *session) cmdPASS(args []string, _ string) error {
	user := s.user
	s.user = ""
	s.state = stateAuthorization
	if !s.authAllowed() {
		return errNeedTLS()
	}
	id, err := s.srv.Auth.Authenticate(s.ctx, user, args[0], s.ip, "pop3")
	if err != nil {
		return s.authFailed(err)
	}
	return s.login(id)
}

// cmdAUTH runs a SASL exchange (RFC 5034 4). Only PLAIN is offered: no
// APOP, no CRAM-MD5. "AUTH" alone lists the mechanisms (RFC 1734 style,
// still sent by some clients).
func (s *session) cmdAUTH(args []string, _ string) error {
	if !s.authAllowed() {
		return errNeedTLS()
	}
	if len(args) == 0 {
		s.reply("+OK Mechanisms follow")
		s.reply("%s", auth.Plain)
		s.reply(".")
		return nil
	}
	mech := strings.ToUpper(args[0])
	var id auth.Identity
	var authed bool
	var srv sasl.Server
	if mech == auth.Plain {
		srv, _ = s.srv.Auth.SASL(s.ctx, mech, s.ip, "pop3", func(i auth.Identity) { id, authed = i, true })
	}
	if srv == nil {
		return &respError{Text: "Unsupported authentication mechanism"}
	}
	var resp []byte // nil: no initial response
	if len(args) == 2 {
		var err error
		if resp, err = decodeSASL(args[1]); err != nil {
			return s.authFailed(auth.ErrMalformed)
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			return s.authFailed(err)
		}
		if done {
			break
		}
		s.reply("+ %s", base64.StdEncoding.EncodeToString(challenge))
		if err := s.flush(); err != nil {
			return err
		}
		line, err := s.readLine()
		if errors.Is(err, errLineTooLong) {
			return &respError{Text: "Line too long", Close: true}
		} else if err != nil {
			return errCloseConn
		}
		if line == "*" { // RFC 5034 4: the client cancels
			return &respError{Text: "Authentication cancelled"}
		}
		if resp, err = decodeSASL(line); err != nil {
			return s.authFailed(auth.ErrMalformed)
		}
	}
	if !authed {
		return s.authFailed(auth.ErrInvalidCredentials)
	}
	return s.login(id)
}

// decodeSASL decodes a base64 response; "=" is the empty response
// (RFC 5034 4).
func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// authFailed maps an authentication error to its reply (RFC 3206 codes).
func (s *session) authFailed(err error) error {
	switch {
	case errors.Is(err, auth.ErrTooManyFailures):
		return &respError{Code: "AUTH", Text: "Too many failed logins, try again later", Close: true}
	case errors.Is(err, auth.ErrTemporary):
		return &respError{Code: "SYS/TEMP", Text: "Temporary authentication failure, try again later", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errCloseConn
	}
	// ErrInvalidCredentials, ErrMalformed and anything else.
	s.authFailures++
	return &respError{Code: "AUTH", Text: "Authentication failed", Close: s.authFailures >= s.cfg.MaxAuthFailures}
}

// login locks and snapshots the maildrop and enters TRANSACTION
// (RFC 1939 4 and 8: the lock is exclusive).
func (s *session) login(id auth.Identity) error {
	drop, err := openMaildrop(s.ctx, s.srv.Backend, id)
	if errors.Is(err, store.ErrLocked) {
		s.log.Info("pop3: maildrop in use", "account", id.Address)
		return &respError{Code: "IN-USE", Text: "Maildrop already locked by another session"}
	}
	if err != nil {
		return &respError{Code: "SYS/TEMP", Text: "Unable to open maildrop, try again later", Err: err}
	}
	s.drop = drop
	s.state = stateTransaction
	s.log = s.log.With("account", id.Address)
	n, size := drop.stat()
	s.log.Info("pop3: login", "messages", n, "octets", size, "tls", s.isTLS)
	return s.ok("Logged in, %d messages (%d octets)", n, size)
}

// cmdQUIT in AUTHORIZATION ends the session without an UPDATE state.
func (s *session) cmdQUIT(_ []string, _ string) error {
	s.reply("+OK Bye")
	return errCloseConn
}

package auth

import (
	"bytes"
	"context"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"
)

// Mechanism names.
const (
	Plain = "PLAIN"
	Login = "LOGIN"
)

// ParsePlain splits a SASL PLAIN response (RFC 4616): authzid NUL authcid
// NUL passwd. The authorization identity must be empty or equal to the
// authentication identity: we never let one account act as another.
func ParsePlain(resp []byte) (username, password string, err error) {
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return "", "", ErrMalformed
	}
	authz, authc, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authc == "" || pass == "" {
		return "", "", ErrMalformed
	}
	if authz != "" && !strings.EqualFold(authz, authc) {
		return "", "", ErrInvalidCredentials
	}
	return authc, pass, nil
}

// SASL returns a server for mech (PLAIN or LOGIN) that authenticates
// through s and calls done with the identity on success.
func (s *Service) SASL(ctx context.Context, mech string, ip netip.Addr, proto string, done func(Identity)) (sasl.Server, bool) {
	check := func(user, pass string) error {
		id, err := s.Authenticate(ctx, user, pass, ip, proto)
		if err != nil {
			return err
		}
		done(id)
		return nil
	}
	switch strings.ToUpper(mech) {
	case Plain:
		return &plainServer{check: check}, true
	case Login:
		return &loginServer{check: check}, true
	}
	return nil, false
}

type plainServer struct {
	check func(user, pass string) error
	done  bool
}

func (p *plainServer) Next(resp []byte) ([]byte, bool, error) {
	if p.done {
		return nil, true, ErrMalformed
	}
	if resp == nil { // no initial response: empty challenge
		return []byte{}, false, nil
	}
	p.done = true
	user, pass, err := ParsePlain(resp)
	if err != nil {
		return nil, true, err
	}
	return nil, true, p.check(user, pass)
}

// loginServer is the obsolete but widely used LOGIN mechanism
// (draft-murchison-sasl-login): "Username:" then "Password:".
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		if len(resp) == 0 || bytes.IndexByte(resp, 0) >= 0 {
			return nil, true, ErrMalformed
		}
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if len(resp) == 0 || bytes.IndexByte(resp, 0) >= 0 {
			return nil, true, ErrMalformed
		}
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, ErrMalformed
}

package auth

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParsePlain: a SASL PLAIN response from the network (RFC 4616). An
// accepted one has a user and a password, and an authorization identity
// that is empty or the user's own.
func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00demo@example.test\x00good password", "demo@example.test\x00demo@example.test\x00pw",
		"victim@example.test\x00mallory@example.test\x00pw", "\x00\x00", "a\x00b", "\x00a\x00b\x00c", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		u, p, err := ParsePlain(resp)
		if err != nil {
			return
		}
		parts := bytes.Split(resp, []byte{0})
		if u == "" || p == "" || len(parts) != 3 {
			t.Fatalf("accepted %q as %q/%q", resp, u, p)
		}
		if authz := string(parts[0]); authz != "" && !strings.EqualFold(authz, u) {
			t.Fatalf("%q may act as %q", u, authz)
		}
	})
}

// FuzzSASL drives the PLAIN and LOGIN servers with client responses, one
// per line of in: no panic, and a login only with the right password.
func FuzzSASL(f *testing.F) {
	f.Add("PLAIN", []byte("\x00demo@example.test\x00good password"))
	f.Add("PLAIN", []byte("\ndemo@example.test\x00demo@example.test\x00good password"))
	f.Add("LOGIN", []byte("\ndemo@example.test\ngood password"))
	f.Add("LOGIN", []byte("demo@example.test\ngood password\nextra"))
	f.Add("login", []byte("\n\n\n"))
	s, _ := newService(f)
	s.Limiter = NewLimiter(LimiterConfig{FreeFailures: 1 << 30, MaxFailures: 1 << 30}, nil)
	ip := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, mech string, in []byte) {
		var got Identity
		srv, ok := s.SASL(context.Background(), mech, ip, "imap", func(id Identity) { got = id })
		if !ok {
			return
		}
		for _, step := range bytes.Split(in, []byte{'\n'}) {
			if _, done, err := srv.Next(step); done || err != nil {
				break
			}
		}
		if got.AccountID != 0 && !bytes.Contains(in, []byte("good password")) {
			t.Fatalf("logged in as %v with %q", got, in)
		}
	})
}

package acmecert

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"
)

// ALPNProto is the ALPN protocol of tls-alpn-01 (RFC 8737 6.2); the HTTPS
// listener must offer it.
const ALPNProto = acme.ALPNProto

// HTTPChallengePrefix is where http-01 tokens are fetched (RFC 8555 8.3).
const HTTPChallengePrefix = "/.well-known/acme-challenge/"

// challenges are the responses of the challenges under way.
type challenges struct {
	mu   sync.Mutex
	http map[string]string           // token → key authorization
	alpn map[string]*tls.Certificate // name → validation certificate
}

// prepare puts the response of chal in place; remove takes it away.
func (c *challenges) prepare(client *acme.Client, chal *acme.Challenge, name string) (remove func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch chal.Type {
	case HTTP01:
		resp, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return nil, err
		}
		c.http[chal.Token] = resp
		return func() { c.mu.Lock(); delete(c.http, chal.Token); c.mu.Unlock() }, nil
	case TLSALPN01:
		cert, err := client.TLSALPN01ChallengeCert(chal.Token, name)
		if err != nil {
			return nil, err
		}
		c.alpn[name] = &cert
		return func() { c.mu.Lock(); delete(c.alpn, name); c.mu.Unlock() }, nil
	}
	return nil, fmt.Errorf("challenge type %s not supported", chal.Type)
}

// ChallengeCertificate answers a tls-alpn-01 validation handshake (one
// that offers ALPN acme-tls/1, RFC 8737 3) with the validation
// certificate of the name asked for; other handshakes get an error.
func (m *Manager) ChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	m.chal.mu.Lock()
	defer m.chal.mu.Unlock()
	if c := m.chal.alpn[name]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("acme: no tls-alpn-01 challenge for %q", name)
}

// ServeHTTP answers http-01 validation requests under HTTPChallengePrefix.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, HTTPChallengePrefix)
	m.chal.mu.Lock()
	resp, found := m.chal.http[token]
	m.chal.mu.Unlock()
	if !ok || !found || r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(resp))
}

package config

import (
	"net"
	"net/url"
	"strings"
)

// ACME challenge types (RFC 8555 8.3, RFC 8737).
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
)

// validateACME checks the [tls] acme_* keys.
func (c *Config) validateACME(bad func(key, format string, a ...any)) {
	t := c.TLS
	if !isDNSName(c.Hostname) {
		bad("tls.acme", "tls.acme needs a public host name (hostname %q)", c.Hostname)
	}
	u, err := url.Parse(t.ACMEDirectory)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		bad("tls.acme_directory", "tls.acme_directory %q: want an https:// URL", t.ACMEDirectory)
	}
	if strings.ContainsAny(t.ACMEEmail, " <>") || t.ACMEEmail != "" && !strings.Contains(t.ACMEEmail, "@") {
		bad("tls.acme_email", "tls.acme_email %q is not an address", t.ACMEEmail)
	}
	for _, n := range t.ACMENames {
		if !isDNSName(n) {
			bad("tls.acme_names", "tls.acme_names: %q is not a host name (wildcards need DNS-01, which kantorpos does not do)", n)
		}
	}
	if len(t.ACMEChallenges) == 0 {
		bad("tls.acme_challenges", "tls.acme_challenges is empty")
	}
	for _, ch := range t.ACMEChallenges {
		switch ch {
		case ChallengeTLSALPN:
			if c.Web.ListenTLS == "" {
				bad("tls.acme_challenges", "tls.acme_challenges: %s needs web.listen_tls (port 443)", ch)
			}
		case ChallengeHTTP:
			if c.Web.Listen == "" {
				bad("tls.acme_challenges", "tls.acme_challenges: %s needs web.listen (port 80)", ch)
			}
		default:
			bad("tls.acme_challenges", "tls.acme_challenges: %q: want %s or %s", ch, ChallengeTLSALPN, ChallengeHTTP)
		}
	}
}

// isDNSName says whether s can be named in a certificate request: letters,
// digits, hyphens, at least one dot, not an IP address.
func isDNSName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") || net.ParseIP(s) != nil {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

package smtpserver

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/logfield"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// receivedInfo is what goes into our trace header.
type receivedInfo struct {
	helo     string
	ip       netip.Addr
	hostname string
	tls      *tls.ConnectionState
	user     string // authenticated account, "" if none
	id       string
	rcpt     string // named only when the message has exactly one recipient
	at       time.Time
}

// receivedHeader renders our Received field (RFC 5321 4.4), folded, with:
// the protocol type of RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA), the TLS
// version and cipher (as a comment and as RFC 8314 4.3's "tls" clause), and
// the authenticated user for submission.
func receivedHeader(r receivedInfo) []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	lit := addressLiteral(r.ip)
	if d, err := mailaddr.ParseDomain(r.helo); err == nil && !strings.HasPrefix(d, "[") {
		b.WriteString(d + " (" + lit + ")")
	} else {
		b.WriteString(lit + " (helo=" + commentSafe(r.helo) + ")")
	}
	b.WriteString("\r\n\tby " + r.hostname + " (kantorpos) with ")
	proto := "ESMTP"
	if r.tls != nil {
		proto += "S"
	}
	if r.user != "" {
		proto += "A"
	}
	b.WriteString(proto + " id " + r.id)
	if r.tls != nil {
		b.WriteString("\r\n\t(" + tls.VersionName(r.tls.Version) + " cipher " + tls.CipherSuiteName(r.tls.CipherSuite) + ")")
	}
	if r.user != "" {
		b.WriteString("\r\n\t(authenticated as " + commentSafe(r.user) + ")")
	}
	if r.rcpt != "" {
		b.WriteString("\r\n\tfor <" + commentSafe(r.rcpt) + ">")
	}
	if r.tls != nil {
		b.WriteString("\r\n\ttls " + tls.CipherSuiteName(r.tls.CipherSuite))
	}
	b.WriteString(";\r\n\t" + r.at.Format(time.RFC1123Z) + "\r\n")
	return []byte(b.String())
}

// addressLiteral renders ip as in RFC 5321 4.1.3.
func addressLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// commentSafe keeps client-supplied text from breaking out of a header
// comment or line: printable ASCII without parentheses, backslash, angle
// brackets or semicolons, at most 100 bytes.
func commentSafe(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || strings.ContainsRune(`()\<>;`, r) {
			return '?'
		}
		return r
	}, s)
}

// sanitize makes a client-supplied string safe for one log field.
func sanitize(s string) string { return logfield.Clean(s, 200) }

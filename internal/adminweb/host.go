package adminweb

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostCheck answers 421 Misdirected Request to a request whose Host is
// not a name of this listener (DNS rebinding: a page on evil.test whose
// name an attacker re-points at 127.0.0.1 sends Host: evil.test, and the
// browser treats our answers as evil.test's, readable by its scripts).
// Accepted: the configured names, "localhost" and its subdomains (RFC
// 6761 6.3: they never leave the machine), loopback addresses, and the
// address the connection arrived on. RFC 9110 15.5.20: 421 says that
// this server cannot give an authoritative answer for that authority;
// it is not an error in the request itself (400) nor a matter of
// permissions (403).
func (h *Handler) hostCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.hostAllowed(r) {
			h.log.Warn("admin: request for a foreign host refused", "host", sanitize(r.Host),
				"path", sanitize(r.URL.Path), "ip", remoteIP(r).String())
			http.Error(w, "misdirected request: this listener does not serve that host name", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) hostAllowed(r *http.Request) bool {
	name := hostName(r.Host)
	if name == "" {
		return false
	}
	if h.hosts[name] || name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	// The address the client connected to (a listener on all addresses,
	// reached by one of them).
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// hostName is the lower-case name of a Host header value, without the
// port, the brackets of an IPv6 literal and a final dot.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	return strings.ToLower(host)
}

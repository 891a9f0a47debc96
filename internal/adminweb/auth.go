package adminweb

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/kantorpos/kantorpos/internal/logfield"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/store"
)

// principal is who a request acts for: an API token, or an account signed
// in with a browser session.
type principal struct {
	token string         // the API token's name
	acc   *store.Account // the session's account (nil for tokens)
	sess  *session
}

func (p *principal) isAdmin() bool { return p.token != "" || (p.acc != nil && p.acc.Admin) }

// who names the principal in logs.
func (p *principal) who() string {
	if p.token != "" {
		return "token:" + p.token
	}
	return p.acc.Address
}

// authenticate finds the principal of r. Without one it returns the status
// and message to answer: 401 for missing or bad credentials.
func (h *Handler) authenticate(r *http.Request) (*principal, int, string) {
	if hdr := r.Header.Get("Authorization"); hdr != "" {
		scheme, secret, _ := strings.Cut(hdr, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, http.StatusUnauthorized, "unsupported authorization scheme (want Bearer)"
		}
		tok, err := h.d.Ops.CheckToken(r.Context(), strings.TrimSpace(secret))
		if errors.Is(err, admin.ErrBadToken) {
			h.d.Events.AuthFailed(h.log, "http", false, "auth failed", "proto", "http", "reason", "bad api token", "ip", remoteIP(r).String())
			return nil, http.StatusUnauthorized, "invalid API token"
		}
		if err != nil {
			h.log.Error("admin: token lookup", "err", err)
			return nil, http.StatusServiceUnavailable, "cannot check the token now"
		}
		return &principal{token: tok.Name}, 0, ""
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, http.StatusUnauthorized, "sign in or send an API token"
	}
	x := h.sessions.get(c.Value)
	if x == nil {
		return nil, http.StatusUnauthorized, "session expired; sign in again"
	}
	// The account is read on every request: disabling it, deleting it or
	// taking administrator rights away takes effect at once.
	acc, err := h.d.Ops.Store.AccountByID(r.Context(), x.accountID)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.Disabled {
		h.sessions.delete(x.id)
		return nil, http.StatusUnauthorized, "account no longer available; sign in again"
	}
	if err != nil {
		h.log.Error("admin: session account", "err", err)
		return nil, http.StatusServiceUnavailable, "cannot check the session now"
	}
	return &principal{acc: &acc, sess: x}, 0, ""
}

// unsafe reports whether a method changes state (needs the CSRF token).
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// remoteIP is the client's address (the auth limiter's key). The admin
// listener is reached directly; a proxy in front would make every client
// one address, so X-Forwarded-For is not trusted.
func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// sanitize makes a client-supplied string safe for one log field.
func sanitize(s string) string { return logfield.Clean(s, 200) }

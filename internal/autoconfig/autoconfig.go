// Package autoconfig serves the documents mail clients read to set
// themselves up from nothing but an address: Thunderbird's autoconfig,
// Outlook's autodiscover (the XML POST form and the JSON v2 form) and an
// Apple configuration profile. Every document is built from the same
// admin.Published that `kantorpos dns` prints as RFC 6186 SRV records, so
// documents, DNS and the real listeners agree.
package autoconfig

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// Domains says which domains we serve (store.Directory has it).
type Domains interface {
	HasDomain(ctx context.Context, name string) (bool, error)
}

// Handler serves the documents. Paths it does not know get 404.
type Handler struct {
	// Published returns the host name and ports clients use (read per
	// request: listeners bound on port 0 are known only after start).
	Published func() admin.Published
	Domains   Domains
	Log       *slog.Logger
}

// Paths of the documents.
const (
	ThunderbirdPath      = "/mail/config-v1.1.xml"
	ThunderbirdWellKnown = "/.well-known/autoconfig/mail/config-v1.1.xml"
	AutodiscoverXMLPath  = "/autodiscover/autodiscover.xml"
	AutodiscoverJSONPath = "/autodiscover/autodiscover.json"
	AppleProfilePath     = "/apple/mobileconfig"
)

// MaxRequestBody bounds an autodiscover request body.
const MaxRequestBody = 64 << 10

// route names the document of a path ("" for none). Outlook spells the
// autodiscover paths with capitals ("/Autodiscover/Autodiscover.xml").
func route(path string) string {
	lower := strings.ToLower(path)
	switch {
	case path == ThunderbirdPath || path == ThunderbirdWellKnown:
		return "thunderbird"
	case lower == AutodiscoverXMLPath:
		return "autodiscover-xml"
	case lower == AutodiscoverJSONPath || strings.HasPrefix(lower, AutodiscoverJSONPath+"/"):
		return "autodiscover-json"
	case path == AppleProfilePath:
		return "apple"
	}
	return ""
}

// Handles says whether path is one of the documents.
func Handles(path string) bool { return route(path) != "" }

// PlainHTTP says whether path may be answered over plain HTTP: Thunderbird
// asks http://autoconfig.DOMAIN/ too. Everything else is redirected to
// HTTPS (Outlook follows a redirect to https for autodiscover).
func PlainHTTP(path string) bool { return route(path) == "thunderbird" }

// ServeHTTP serves one document.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	switch route(r.URL.Path) {
	case "thunderbird":
		h.thunderbird(w, r)
	case "autodiscover-xml":
		h.autodiscoverXML(w, r)
	case "autodiscover-json":
		h.autodiscoverJSON(w, r)
	case "apple":
		h.appleProfile(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// ours checks that domain is served here; false answers 404 (or 500).
func (h *Handler) ours(w http.ResponseWriter, r *http.Request, domain string) bool {
	ok, err := h.Domains.HasDomain(r.Context(), domain)
	if err != nil {
		h.log().Error("autoconfig: domain lookup", "domain", domain, "err", err)
		http.Error(w, "temporary failure", http.StatusInternalServerError)
		return false
	}
	if !ok {
		http.NotFound(w, r)
	}
	return ok
}

// address parses a client's address; "" when it is not one we can set up.
func address(s string) (mailaddr.Address, bool) {
	a, err := mailaddr.Parse(strings.TrimSpace(s))
	if err != nil || a.IsLiteral() || len(s) > 320 {
		return a, false
	}
	return a, true
}

// hostDomain is the mail domain a request names by its Host: the host
// without port and without an autoconfig./autodiscover. label.
func hostDomain(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range []string{"autoconfig.", "autodiscover."} {
		host = strings.TrimPrefix(host, p)
	}
	d, err := mailaddr.ParseDomain(host)
	if err != nil || strings.HasPrefix(d, "[") {
		return ""
	}
	return d
}

// endpoint is one service a client may use.
type endpoint struct {
	proto    string // imap, pop3, smtp
	port     int
	implicit bool // implicit TLS (RFC 8314); false: STARTTLS
}

// endpoints lists the offered services, preferred first within each
// protocol: implicit TLS before STARTTLS (RFC 8314 5.1).
func endpoints(p admin.Published) []endpoint {
	var out []endpoint
	for _, e := range []endpoint{
		{"imap", p.IMAPS, true}, {"imap", p.IMAP, false},
		{"pop3", p.POP3S, true}, {"pop3", p.POP3, false},
		{"smtp", p.Submissions, true}, {"smtp", p.Submission, false},
	} {
		if e.port > 0 {
			out = append(out, e)
		}
	}
	return out
}

// preferred returns the first endpoint of proto.
func preferred(p admin.Published, proto string) (endpoint, bool) {
	for _, e := range endpoints(p) {
		if e.proto == proto {
			return e, true
		}
	}
	return endpoint{}, false
}

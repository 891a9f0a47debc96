// Package adminweb serves the admin listener: the JSON API (/api/v1), the
// admin web page (/admin), the users' own page (/me), /metrics, /healthz
// and /readyz. Every operation calls admin.Ops, the implementation the
// command line uses too; this package only authenticates, checks and
// translates.
//
// Who may do what:
//   - /api/v1: an API token (Authorization: Bearer kpt_...) or the session
//     cookie of an administrator account; state-changing requests made
//     with a cookie also carry the session's CSRF token (X-CSRF-Token).
//     /api/v1/me is for any signed-in account.
//   - /admin: the session of an administrator; forms carry the CSRF token.
//   - /me: the session of any account, signed in with its mail password.
//   - /healthz, /readyz: anyone (load balancers); /metrics: anyone unless
//     Config.MetricsAuth, then a token or an administrator's session.
//
// Before any of that: a request for a Host that is not one of the
// listener's names gets 421 (DNS rebinding, host.go), httpguard refuses
// chunked bodies and non-UTF-8 paths, and cross-origin state-changing
// requests are refused (Sec-Fetch-Site, Origin).
package adminweb

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/httpguard"
)

//go:embed templates static
var assets embed.FS

// Config adjusts the handler.
type Config struct {
	// Secure marks cookies Secure (the listener serves TLS).
	Secure bool
	// MetricsAuth requires a token or an administrator's session for
	// /metrics (the listener is reachable from other hosts).
	MetricsAuth bool
	// SessionIdle and SessionMax end browser sessions after that much
	// inactivity, or that long after sign-in (defaults 2h and 24h).
	SessionIdle, SessionMax time.Duration
	// MaxSessions bounds the sessions kept in memory (default 10000).
	MaxSessions int
	// Hosts are the names browsers use to reach the listener (the
	// server's host name). Requests whose Host is none of these, not a
	// loopback name or address and not the address the connection
	// arrived on are refused with 421 (DNS rebinding).
	Hosts []string
}

// Deps are the components the handler uses.
type Deps struct {
	Ops  *admin.Ops
	Auth *auth.Service
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// Ready tells whether the server can serve (/readyz); nil: always.
	Ready func(ctx context.Context) error
	Log   *slog.Logger
	Clock clock.Clock
	// Events counts the failed API logins (nil: logged, not counted).
	Events *events.Log
}

// Handler is the admin listener's http.Handler.
type Handler struct {
	cfg      Config
	d        Deps
	log      *slog.Logger
	sessions *sessions
	hosts    map[string]bool // Config.Hosts, as hostName gives them
	pages    map[string]*template.Template
	root     http.Handler
}

// New builds the handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 2 * time.Hour
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 24 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	h := &Handler{cfg: cfg, d: d, log: d.Log, sessions: newSessions(d.Clock, cfg.SessionIdle, cfg.SessionMax, cfg.MaxSessions),
		hosts: map[string]bool{}}
	for _, n := range cfg.Hosts {
		if n = hostName(n); n != "" {
			h.hosts[n] = true
		}
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	mux := http.NewServeMux()
	h.routes(mux)
	// Cross-origin protection for every state-changing request: browsers
	// say where a request comes from (Sec-Fetch-Site, Origin); a request
	// from another site is refused whatever credentials it carries.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.log.Warn("admin: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", sanitize(r.Header.Get("Origin")), "sec_fetch_site", sanitize(r.Header.Get("Sec-Fetch-Site")))
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	h.root = securityHeaders(httpguard.Requests(h.hostCheck(cop.Handler(mux)), h.log))
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// filesOnly serves the files of an fs.FS and nothing else: a directory
// (no listing) and any name the FS cannot open are "not found" (404),
// never an internal error.
type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		file.Close()
		return nil, fs.ErrNotExist
	}
	return file, nil
}

func (h *Handler) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(filesOnly{static})))
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /metrics", h.metrics)
	h.apiRoutes(mux)
	h.pageRoutes(mux)
}

// securityHeaders sets the headers every response carries: no framing,
// no sniffing, no referrer, and a content policy that allows only our own
// scripts and styles.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if h.d.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := h.d.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
	}
	w.Write([]byte("ready\n"))
}

func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	if h.d.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	if h.cfg.MetricsAuth {
		p, status, msg := h.authenticate(r)
		if p == nil || !p.isAdmin() {
			if p != nil {
				status, msg = http.StatusForbidden, "administrators only"
			}
			writeError(w, status, msg)
			return
		}
	}
	h.d.Metrics.ServeHTTP(w, r)
}

// errorStatus maps an operation error to an HTTP status and the message
// the client may see.
func errorStatus(err error) (int, string) {
	var ae *admin.Error
	switch {
	case errors.As(err, &ae):
		return userErrorStatus(ae), ae.Msg
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "request cancelled or timed out"
	}
	return http.StatusInternalServerError, "internal error (see the server log)"
}

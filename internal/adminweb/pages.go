package adminweb

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// pageNames are the templates in templates/, each rendered inside layout.html.
var pageNames = []string{"login", "dashboard", "domains", "accounts", "aliases", "queue", "dns", "me"}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		d := now.Sub(t).Round(time.Second)
		if d < 0 {
			return "in " + (-d).String()
		}
		return d.String() + " ago"
	},
	"mib": func(b int64) int64 { return b >> 20 },
	"pct": func(used, quota int64) int64 {
		if quota <= 0 {
			return 0
		}
		return min(used*100/quota, 100)
	},
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("adminweb: template %s: %w", n, err)
		}
		out[n] = t
	}
	if _, err := fs.Stat(assets, "static/app.css"); err != nil {
		return nil, err
	}
	return out, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Nav     string // the active menu entry
	Account *store.Account
	CSRF    string
	Flash   string // the outcome of the last action
	Error   string
	Now     time.Time
	Data    any
}

// render writes a page; the template runs into a buffer first, so a
// template error gives a clean 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Now = h.d.Clock.Now()
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, d); err != nil {
		h.log.Error("admin: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageFunc handles a page request of a signed-in principal.
type pageFunc func(w http.ResponseWriter, r *http.Request, p *principal)

// page wraps a page: a browser session is required (else the sign-in page),
// administrators only unless need is roleAccount; form posts carry the
// session's CSRF token in the field "csrf".
func (h *Handler) page(need role, fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _, msg := h.authenticate(r)
		if p == nil || p.sess == nil {
			if r.Method != http.MethodGet {
				http.Error(w, msg, http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if need == roleAdmin && !p.isAdmin() {
			h.render(w, r, http.StatusForbidden, "login", pageData{Title: "Not allowed", Account: p.acc, CSRF: p.sess.csrf,
				Error: "This page is for administrators. Your own settings are on “My account”."})
			return
		}
		if unsafe(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if err := r.ParseForm(); err != nil || !p.sess.checkCSRF(r.PostForm.Get("csrf")) {
				h.log.Warn("admin: CSRF token missing or wrong", "who", p.who(), "path", r.URL.Path)
				http.Error(w, "CSRF token missing or wrong: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		fn(w, r, p)
	}
}

// done redirects after a form post (Post/Redirect/Get); its outcome waits
// in the session for the next page.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, p *principal, to string, err error, okMsg string) {
	if err != nil {
		status, msg := errorStatus(err)
		if status >= 500 {
			h.log.Error("admin: page action", "path", r.URL.Path, "err", err)
		}
		h.sessions.setFlash(p.sess.id, "", msg)
	} else {
		h.sessions.setFlash(p.sess.id, okMsg, "")
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) pageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.home)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	a := func(fn pageFunc) http.HandlerFunc { return h.page(roleAdmin, fn) }
	mux.HandleFunc("GET /admin/{$}", a(h.dashboard))
	mux.HandleFunc("GET /admin/domains", a(h.domainsPage))
	mux.HandleFunc("POST /admin/domains", a(h.domainAction))
	mux.HandleFunc("GET /admin/accounts", a(h.accountsPage))
	mux.HandleFunc("POST /admin/accounts", a(h.accountAction))
	mux.HandleFunc("GET /admin/aliases", a(h.aliasesPage))
	mux.HandleFunc("POST /admin/aliases", a(h.aliasAction))
	mux.HandleFunc("GET /admin/queue", a(h.queuePage))
	mux.HandleFunc("POST /admin/queue", a(h.queueAction))
	mux.HandleFunc("GET /admin/dns", a(h.dnsPage))
	mux.HandleFunc("GET /me", h.page(roleAccount, h.mePage))
	mux.HandleFunc("POST /me", h.page(roleAccount, h.meAction))
}

// home sends a browser where it belongs.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	p, _, _ := h.authenticate(r)
	switch {
	case p == nil || p.sess == nil:
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	case p.isAdmin():
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/me", http.StatusSeeOther)
	}
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", pageData{Title: "Sign in", Flash: h.takeNotice(w, r), Data: localPath(r.URL.Query().Get("next"))})
}

// localPath keeps a redirect target on this site: it returns next when
// next is a path of ours, else "". Browsers read a Location of "//host",
// "/\host" or "/<TAB>/host" as another host (the WHATWG URL parser drops
// tabs and newlines and reads "\" as "/"), so next must be "/" or start
// with "/" and a path character (RFC 3986 3.3 pchar), be printable ASCII
// without "\", and, with its percent-escapes decoded, still start that
// way and hold no control character and no "\".
func localPath(next string) string {
	if len(next) > maxNext || !localStart(next) {
		return ""
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return ""
		}
	}
	dec, err := url.PathUnescape(next)
	if err != nil || !localStart(dec) {
		return ""
	}
	for _, c := range dec {
		if c < ' ' || c == 0x7f || c == '\\' || unicode.IsControl(c) {
			return ""
		}
	}
	return next
}

// maxNext bounds a redirect target.
const maxNext = 2048

// localStart: "/" alone, or "/" and a path character.
func localStart(s string) bool {
	return s == "/" || len(s) >= 2 && s[0] == '/' && pchar(s[1])
}

// pchar reports whether c may start a path segment: RFC 3986 3.3 pchar
// (unreserved, pct-encoded, sub-delims, ":", "@"), so never "/", "\",
// "?" or "#".
func pchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~%!$&'()*+,;=:@", c) >= 0
}

// login signs an account in with its mail password, through the shared
// failed-login limiter (proto "http"). Login CSRF is covered by the
// cross-origin check that runs before every POST.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	user, pass, next := strings.TrimSpace(r.PostForm.Get("address")), r.PostForm.Get("password"), localPath(r.PostForm.Get("next"))
	id, err := h.d.Auth.Authenticate(r.Context(), user, pass, remoteIP(r), "http")
	if err != nil {
		msg, status := "Wrong address or password.", http.StatusUnauthorized
		switch {
		case errors.Is(err, auth.ErrTooManyFailures):
			msg, status = "Too many failed sign-ins from your address; wait a few minutes.", http.StatusTooManyRequests
		case !errors.Is(err, auth.ErrInvalidCredentials):
			msg, status = "Signing in is not possible right now; try again later.", http.StatusServiceUnavailable
		}
		h.render(w, r, status, "login", pageData{Title: "Sign in", Error: msg, Data: next})
		return
	}
	acc, err := h.d.Ops.Store.AccountByID(r.Context(), id.AccountID)
	if err != nil {
		h.render(w, r, http.StatusServiceUnavailable, "login", pageData{Title: "Sign in", Error: "Signing in is not possible right now.", Data: next})
		return
	}
	// The browser's earlier session, whoever it was for, ends here: a
	// second sign-in (another account, or the same one again) never
	// leaves an older session valid behind the new cookie.
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		h.sessions.delete(c.Value)
	}
	x := h.sessions.create(acc.ID)
	h.setCookie(w, x)
	h.log.Info("admin: signed in", "account", acc.Address, "admin", acc.Admin, "ip", remoteIP(r).String())
	switch {
	case next != "":
	case acc.Admin:
		next = "/admin/"
	default:
		next = "/me"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if x := h.sessions.get(c.Value); x != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			r.ParseForm() //nolint:errcheck // a bad form fails the check below
			if !x.checkCSRF(r.PostForm.Get("csrf")) {
				http.Error(w, "CSRF token missing or wrong", http.StatusForbidden)
				return
			}
			h.sessions.delete(x.id)
		}
	}
	h.clearCookie(w)
	h.setNotice(w, "signed-out")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

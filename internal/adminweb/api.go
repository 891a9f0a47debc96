package adminweb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/store"
)

// maxBody bounds a JSON request body.
const maxBody = 64 << 10

// apiFunc handles an authorised API request. A returned error is mapped
// with errorStatus.
type apiFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// role says who may call an endpoint.
type role int

const (
	roleAdmin   role = iota // an API token or an administrator's session
	roleAccount             // any signed-in account (its own data)
)

// api wraps an endpoint: authentication, role, and the CSRF token of
// cookie sessions on state-changing methods.
func (h *Handler) api(need role, fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, status, msg := h.authenticate(r)
		if p == nil {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kantorpos"`)
			}
			writeError(w, status, msg)
			return
		}
		switch {
		case need == roleAdmin && !p.isAdmin():
			h.log.Warn("admin: forbidden", "who", p.who(), "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "administrators only")
			return
		case need == roleAccount && p.acc == nil:
			writeError(w, http.StatusForbidden, "sign in as the account (API tokens act for no account)")
			return
		}
		if p.sess != nil && unsafe(r.Method) && !p.sess.checkCSRF(r.Header.Get("X-CSRF-Token")) {
			h.log.Warn("admin: CSRF token missing or wrong", "who", p.who(), "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "CSRF token missing or wrong (send X-CSRF-Token from GET /api/v1/session)")
			return
		}
		if err := fn(w, r, p); err != nil {
			status, msg := errorStatus(err)
			if status >= 500 {
				h.log.Error("admin: api", "method", r.Method, "path", r.URL.Path, "who", p.who(), "err", err)
			}
			writeError(w, status, msg)
		}
	}
}

func userErrorStatus(e *admin.Error) int {
	switch {
	case errors.Is(e, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(e, store.ErrExists), errors.Is(e, store.ErrNotEmpty), errors.Is(e, store.ErrLocked):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// badRequest is a client error found by this layer (a malformed body).
func badRequest(format string, a ...any) error {
	return &admin.Error{Msg: fmt.Sprintf(format, a...)}
}

// decode reads a JSON body into v, strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad JSON body: %v", err)
	}
	return nil
}

func listQuery(r *http.Request) (admin.ListQuery, error) {
	q := admin.ListQuery{Domain: r.URL.Query().Get("domain"), Search: r.URL.Query().Get("q")}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"offset", &q.Offset}, {"limit", &q.Limit}} {
		if s := r.URL.Query().Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, badRequest("%s: want a number", f.name)
			}
			*f.dst = n
		}
	}
	return q, nil
}

// accountView is an account as the API shows it (never the password hash).
type accountView struct {
	Address    string    `json:"address"`
	Domain     string    `json:"domain"`
	Disabled   bool      `json:"disabled"`
	Admin      bool      `json:"admin"`
	QuotaBytes int64     `json:"quota_bytes"`
	UsedBytes  int64     `json:"used_bytes"`
	Created    time.Time `json:"created"`
}

func viewAccount(a store.Account) accountView {
	return accountView{Address: a.Address, Domain: a.Domain, Disabled: a.Disabled, Admin: a.Admin,
		QuotaBytes: a.QuotaBytes, UsedBytes: a.UsedBytes, Created: a.Created}
}

type domainView struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

type aliasView struct {
	Address string `json:"address"`
	Target  string `json:"target"`
}

func mapPage[T, V any](p admin.Page[T], f func(T) V) admin.Page[V] {
	out := admin.Page[V]{Total: p.Total, Offset: p.Offset, Limit: p.Limit, Items: make([]V, len(p.Items))}
	for i, x := range p.Items {
		out.Items[i] = f(x)
	}
	return out
}

func (h *Handler) apiRoutes(mux *http.ServeMux) {
	a := func(fn apiFunc) http.HandlerFunc { return h.api(roleAdmin, fn) }
	mux.HandleFunc("GET /api/v1/session", h.api(roleAccount, h.apiSession))
	mux.HandleFunc("GET /api/v1/status", a(h.apiStatus))

	mux.HandleFunc("GET /api/v1/domains", a(h.apiDomains))
	mux.HandleFunc("POST /api/v1/domains", a(h.apiAddDomain))
	mux.HandleFunc("DELETE /api/v1/domains/{name}", a(h.apiDeleteDomain))
	mux.HandleFunc("GET /api/v1/domains/{name}/dns", a(h.apiDNS))
	mux.HandleFunc("GET /api/v1/domains/{name}/dns/check", a(h.apiCheckDNS))
	mux.HandleFunc("GET /api/v1/domains/{name}/dkim", a(h.apiDKIM))
	mux.HandleFunc("POST /api/v1/domains/{name}/dkim/rotate", a(h.apiRotateDKIM))

	mux.HandleFunc("GET /api/v1/accounts", a(h.apiAccounts))
	mux.HandleFunc("POST /api/v1/accounts", a(h.apiAddAccount))
	mux.HandleFunc("GET /api/v1/accounts/{address}", a(h.apiAccount))
	mux.HandleFunc("PATCH /api/v1/accounts/{address}", a(h.apiUpdateAccount))
	mux.HandleFunc("DELETE /api/v1/accounts/{address}", a(h.apiDeleteAccount))

	mux.HandleFunc("GET /api/v1/aliases", a(h.apiAliases))
	mux.HandleFunc("POST /api/v1/aliases", a(h.apiAddAlias))
	mux.HandleFunc("DELETE /api/v1/aliases/{address}", a(h.apiDeleteAlias))

	mux.HandleFunc("GET /api/v1/queue", a(h.apiQueue))
	mux.HandleFunc("GET /api/v1/queue/{id}", a(h.apiQueueEntry))
	mux.HandleFunc("POST /api/v1/queue/{id}/retry", a(h.apiQueueRetry))
	mux.HandleFunc("POST /api/v1/queue/{id}/bounce", a(h.apiQueueBounce))
	mux.HandleFunc("DELETE /api/v1/queue/{id}", a(h.apiQueueDelete))

	mux.HandleFunc("GET /api/v1/me", h.api(roleAccount, h.apiMe))
	mux.HandleFunc("PUT /api/v1/me/password", h.api(roleAccount, h.apiMePassword))
	mux.HandleFunc("PUT /api/v1/me/settings", h.api(roleAccount, h.apiMeSettings))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
}

func (h *Handler) apiSession(w http.ResponseWriter, r *http.Request, p *principal) error {
	writeJSON(w, http.StatusOK, map[string]any{"account": p.acc.Address, "admin": p.acc.Admin, "csrf_token": p.sess.csrf})
	return nil
}

func (h *Handler) apiStatus(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := h.d.Ops.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (h *Handler) apiDomains(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	page, err := h.d.Ops.FindDomains(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, mapPage(page, func(d store.Domain) domainView { return domainView(d) }))
	return nil
}

func (h *Handler) apiAddDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := h.d.Ops.AddDomain(r.Context(), req.Name); err != nil {
		return err
	}
	h.audit(p, "domain added", "domain", req.Name)
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name})
	return nil
}

func (h *Handler) apiDeleteDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := h.d.Ops.DeleteDomain(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	h.audit(p, "domain deleted", "domain", r.PathValue("name"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) apiAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	page, err := h.d.Ops.FindUsers(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, mapPage(page, viewAccount))
	return nil
}

func (h *Handler) apiAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	acc, err := h.d.Ops.Account(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewAccount(acc))
	return nil
}

// accountChange is the body of POST and PATCH on accounts: fields left out
// do not change.
type accountChange struct {
	Address    string  `json:"address,omitempty"` // POST only
	Password   *string `json:"password,omitempty"`
	QuotaBytes *int64  `json:"quota_bytes,omitempty"`
	Disabled   *bool   `json:"disabled,omitempty"`
	Admin      *bool   `json:"admin,omitempty"`
}

// apply makes the changes, each through its own operation.
func (h *Handler) apply(r *http.Request, p *principal, address string, c accountChange) error {
	ops, ctx := h.d.Ops, r.Context()
	if c.Password != nil {
		if err := ops.SetPassword(ctx, address, *c.Password); err != nil {
			return err
		}
		h.audit(p, "password reset", "account", address)
	}
	if c.QuotaBytes != nil {
		if err := ops.SetQuota(ctx, address, *c.QuotaBytes); err != nil {
			return err
		}
	}
	if c.Disabled != nil {
		if err := ops.SetDisabled(ctx, address, *c.Disabled); err != nil {
			return err
		}
	}
	if c.Admin != nil {
		if err := ops.SetAdmin(ctx, address, *c.Admin); err != nil {
			return err
		}
	}
	if c.Password != nil || c.Disabled != nil && *c.Disabled || c.Admin != nil && !*c.Admin {
		if acc, err := ops.Account(ctx, address); err == nil {
			h.sessions.deleteAccount(acc.ID, "")
		}
	}
	return nil
}

func (h *Handler) apiAddAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	var c accountChange
	if err := decode(r, &c); err != nil {
		return err
	}
	if c.Password == nil {
		return badRequest("password is required")
	}
	acc, err := h.d.Ops.AddUser(r.Context(), c.Address, *c.Password)
	if err != nil {
		return err
	}
	h.audit(p, "account added", "account", acc.Address)
	c.Password = nil
	if err := h.apply(r, p, acc.Address, c); err != nil {
		return err
	}
	acc, err = h.d.Ops.Account(r.Context(), acc.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewAccount(acc))
	return nil
}

func (h *Handler) apiUpdateAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	var c accountChange
	if err := decode(r, &c); err != nil {
		return err
	}
	if c.Address != "" {
		return badRequest("an account's address cannot change")
	}
	address := r.PathValue("address")
	if _, err := h.d.Ops.Account(r.Context(), address); err != nil {
		return err
	}
	if err := h.apply(r, p, address, c); err != nil {
		return err
	}
	acc, err := h.d.Ops.Account(r.Context(), address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewAccount(acc))
	return nil
}

func (h *Handler) apiDeleteAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	address := r.PathValue("address")
	acc, err := h.d.Ops.Account(r.Context(), address)
	if err != nil {
		return err
	}
	if err := h.d.Ops.DeleteUser(r.Context(), address); err != nil {
		return err
	}
	h.sessions.deleteAccount(acc.ID, "")
	h.audit(p, "account deleted", "account", acc.Address)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) apiAliases(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	page, err := h.d.Ops.FindAliases(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, mapPage(page, func(a store.Alias) aliasView { return aliasView(a) }))
	return nil
}

func (h *Handler) apiAddAlias(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req aliasView
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := h.d.Ops.AddAlias(r.Context(), req.Address, req.Target); err != nil {
		return err
	}
	h.audit(p, "alias added", "alias", req.Address, "target", req.Target)
	writeJSON(w, http.StatusCreated, req)
	return nil
}

func (h *Handler) apiDeleteAlias(w http.ResponseWriter, r *http.Request, p *principal) error {
	target := r.URL.Query().Get("target")
	if err := h.d.Ops.DeleteAlias(r.Context(), r.PathValue("address"), target); err != nil {
		return err
	}
	h.audit(p, "alias deleted", "alias", r.PathValue("address"), "target", target)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// audit logs who changed what through the web.
func (h *Handler) audit(p *principal, what string, attrs ...any) {
	h.log.Info("admin: "+what, append([]any{"by", p.who()}, attrs...)...)
}

package adminweb

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store"
)

// pageSize of the listings on the admin pages.
const pageSize = 25

// pager is the search box and page links of a listing.
type pager struct {
	Search, Domain   string
	Page, Pages      int
	Total            int
	PrevURL, NextURL string
}

func pageQuery(r *http.Request) (admin.ListQuery, int) {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	n = max(n, 1)
	return admin.ListQuery{Search: r.URL.Query().Get("q"), Domain: r.URL.Query().Get("domain"),
		Offset: (n - 1) * pageSize, Limit: pageSize}, n
}

func makePager(path string, q admin.ListQuery, page, total int) pager {
	p := pager{Search: q.Search, Domain: q.Domain, Page: page, Total: total, Pages: max((total+pageSize-1)/pageSize, 1)}
	link := func(n int) string {
		v := url.Values{}
		if q.Search != "" {
			v.Set("q", q.Search)
		}
		if q.Domain != "" {
			v.Set("domain", q.Domain)
		}
		v.Set("page", strconv.Itoa(n))
		return path + "?" + v.Encode()
	}
	if page > 1 {
		p.PrevURL = link(page - 1)
	}
	if page < p.Pages {
		p.NextURL = link(page + 1)
	}
	return p
}

// data starts a page's data, with the flash messages of the session's
// last form post.
func (h *Handler) data(p *principal, title, nav string, d any) pageData {
	ok, errMsg := h.sessions.takeFlash(p.sess.id)
	return pageData{Title: title, Nav: nav, Account: p.acc, CSRF: p.sess.csrf, Flash: ok, Error: errMsg, Data: d}
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request, p *principal) {
	st, err := h.d.Ops.Status(r.Context())
	d := h.data(p, "Dashboard", "dashboard", st)
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "dashboard", d)
}

func (h *Handler) domainsPage(w http.ResponseWriter, r *http.Request, p *principal) {
	q, n := pageQuery(r)
	page, err := h.d.Ops.FindDomains(r.Context(), q)
	d := h.data(p, "Domains", "domains", struct {
		Page  admin.Page[store.Domain]
		Pager pager
	}{page, makePager("/admin/domains", q, n, page.Total)})
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "domains", d)
}

func (h *Handler) domainAction(w http.ResponseWriter, r *http.Request, p *principal) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	switch r.PostForm.Get("action") {
	case "add":
		err := h.d.Ops.AddDomain(r.Context(), name)
		if err == nil {
			h.audit(p, "domain added", "domain", name)
		}
		h.done(w, r, p, "/admin/domains", err, "Domain "+name+" added. Publish its DNS records next.")
	case "delete":
		err := h.d.Ops.DeleteDomain(r.Context(), name)
		if err == nil {
			h.audit(p, "domain deleted", "domain", name)
		}
		h.done(w, r, p, "/admin/domains", err, "Domain "+name+" deleted.")
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (h *Handler) accountsPage(w http.ResponseWriter, r *http.Request, p *principal) {
	q, n := pageQuery(r)
	page, err := h.d.Ops.FindUsers(r.Context(), q)
	domains, _ := h.d.Ops.Domains(r.Context())
	d := h.data(p, "Accounts", "accounts", struct {
		Page    admin.Page[store.Account]
		Pager   pager
		Domains []store.Domain
	}{page, makePager("/admin/accounts", q, n, page.Total), domains})
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "accounts", d)
}

// parseQuota reads a quota field: a size like "500MiB" or "2GiB", a plain
// number of MiB, or "0"/"" for no limit.
func parseQuota(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n << 20, nil
	}
	var b config.ByteSize
	if err := b.UnmarshalText([]byte(s)); err != nil {
		return 0, badRequest("quota %q: want a size like 500MiB or 2GiB (0: no limit)", s)
	}
	return int64(b), nil
}

func (h *Handler) accountAction(w http.ResponseWriter, r *http.Request, p *principal) {
	f := r.PostForm
	addr := strings.TrimSpace(f.Get("address"))
	back := "/admin/accounts"
	if ret := localPath(f.Get("return")); strings.HasPrefix(ret, "/admin/accounts") {
		back = ret
	}
	var c accountChange
	var msg string
	switch f.Get("action") {
	case "add":
		quota, err := parseQuota(f.Get("quota"))
		if err != nil {
			h.done(w, r, p, back, err, "")
			return
		}
		acc, err := h.d.Ops.AddUser(r.Context(), addr, f.Get("password"))
		if err != nil {
			h.done(w, r, p, back, err, "")
			return
		}
		h.audit(p, "account added", "account", acc.Address)
		isAdmin := f.Get("admin") == "on"
		c = accountChange{QuotaBytes: &quota, Admin: &isAdmin}
		addr, msg = acc.Address, "Account "+acc.Address+" created."
	case "password":
		pw := f.Get("password")
		c.Password, msg = &pw, "Password of "+addr+" changed."
	case "quota":
		quota, err := parseQuota(f.Get("quota"))
		if err != nil {
			h.done(w, r, p, back, err, "")
			return
		}
		c.QuotaBytes, msg = &quota, "Quota of "+addr+" set."
	case "disable", "enable":
		off := f.Get("action") == "disable"
		c.Disabled, msg = &off, "Account "+addr+" "+f.Get("action")+"d."
	case "admin-on", "admin-off":
		on := f.Get("action") == "admin-on"
		c.Admin, msg = &on, "Administrator rights of "+addr+" changed."
	case "delete":
		acc, err := h.d.Ops.Account(r.Context(), addr)
		if err == nil {
			err = h.d.Ops.DeleteUser(r.Context(), addr)
		}
		if err == nil {
			h.sessions.deleteAccount(acc.ID, "")
			h.audit(p, "account deleted", "account", addr)
		}
		h.done(w, r, p, back, err, "Account "+addr+" deleted with all its mail.")
		return
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	h.done(w, r, p, back, h.apply(r, p, addr, c), msg)
}

func (h *Handler) aliasesPage(w http.ResponseWriter, r *http.Request, p *principal) {
	q, n := pageQuery(r)
	page, err := h.d.Ops.FindAliases(r.Context(), q)
	d := h.data(p, "Aliases", "aliases", struct {
		Page  admin.Page[store.Alias]
		Pager pager
	}{page, makePager("/admin/aliases", q, n, page.Total)})
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "aliases", d)
}

func (h *Handler) aliasAction(w http.ResponseWriter, r *http.Request, p *principal) {
	f := r.PostForm
	addr, target := strings.TrimSpace(f.Get("address")), strings.TrimSpace(f.Get("target"))
	switch f.Get("action") {
	case "add":
		err := h.d.Ops.AddAlias(r.Context(), addr, target)
		if err == nil {
			h.audit(p, "alias added", "alias", addr, "target", target)
		}
		h.done(w, r, p, "/admin/aliases", err, "Alias "+addr+" → "+target+" added.")
	case "delete":
		err := h.d.Ops.DeleteAlias(r.Context(), addr, target)
		if err == nil {
			h.audit(p, "alias deleted", "alias", addr, "target", target)
		}
		h.done(w, r, p, "/admin/aliases", err, "Alias "+addr+" → "+target+" deleted.")
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (h *Handler) queuePage(w http.ResponseWriter, r *http.Request, p *principal) {
	entries, err := h.d.Ops.QueueList(r.Context(), r.URL.Query().Get("domain"), 500)
	views := make([]queueView, len(entries))
	for i, e := range entries {
		views[i] = h.viewQueue(e)
	}
	d := h.data(p, "Queue", "queue", views)
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "queue", d)
}

func (h *Handler) queueAction(w http.ResponseWriter, r *http.Request, p *principal) {
	f := r.PostForm
	var id int64
	if f.Get("id") != "all" {
		n, err := strconv.ParseInt(f.Get("id"), 10, 64)
		if err != nil || n <= 0 {
			http.Error(w, "bad queue id", http.StatusBadRequest)
			return
		}
		id = n
	}
	ctx, action := r.Context(), f.Get("action")
	var err error
	var msg string
	switch {
	case action == "retry":
		var n int
		n, err = h.d.Ops.QueueRetry(ctx, id)
		msg = strconv.Itoa(n) + " message(s) will be retried now."
	case action == "bounce" && id > 0:
		err, msg = h.d.Ops.QueueBounce(ctx, id), "Message "+f.Get("id")+" returned to its sender."
	case action == "delete" && id > 0:
		err, msg = h.d.Ops.QueueDelete(ctx, id), "Message "+f.Get("id")+" deleted from the queue."
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if err == nil {
		h.audit(p, "queue "+action, "id", id)
	}
	h.done(w, r, p, "/admin/queue", err, msg)
}

// dnsData is the DNS page: the records of a domain and, after "check now",
// what the DNS answered for each.
type dnsData struct {
	Domains  []store.Domain
	Domain   string
	Records  []recordView
	Checked  bool
	Findings []findingView
	Problems int
	Keys     []dkimView
}

func (h *Handler) dnsPage(w http.ResponseWriter, r *http.Request, p *principal) {
	ctx := r.Context()
	dd := dnsData{Domain: r.URL.Query().Get("domain")}
	dd.Domains, _ = h.d.Ops.Domains(ctx)
	if dd.Domain == "" && len(dd.Domains) > 0 {
		dd.Domain = dd.Domains[0].Name
	}
	d := h.data(p, "DNS records", "dns", &dd)
	var err error
	if dd.Domain != "" {
		if r.URL.Query().Get("check") != "" {
			fs, cerr := h.d.Ops.CheckDNS(ctx, dd.Domain)
			dd.Checked, err = cerr == nil, cerr
			dd.Findings, dd.Problems = viewFindings(fs)
		} else {
			recs, rerr := h.d.Ops.DNSRecords(ctx, dd.Domain)
			err = rerr
			for _, rec := range recs {
				dd.Records = append(dd.Records, recordView(rec))
			}
		}
	}
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "dns", d)
}

package adminweb

import (
	"net/http"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/store"
)

// meData is the users' own page.
type meData struct {
	Settings store.AccountSettings
	Filters  admin.Filters
	Client   []clientService
}

func (h *Handler) mePage(w http.ResponseWriter, r *http.Request, p *principal) {
	st, err := h.d.Ops.Settings(r.Context(), p.acc.Address)
	md := meData{Settings: st, Client: clientSettings(h.d.Ops.Published, p.acc.Address)}
	if err == nil {
		md.Filters, err = h.d.Ops.Filters(r.Context(), p.acc.Address)
	}
	d := h.data(p, "My account", "me", md)
	if err != nil {
		_, d.Error = errorStatus(err)
	}
	h.render(w, r, http.StatusOK, "me", d)
}

func (h *Handler) meAction(w http.ResponseWriter, r *http.Request, p *principal) {
	f := r.PostForm
	switch f.Get("action") {
	case "password":
		if f.Get("new") != f.Get("repeat") {
			h.done(w, r, p, "/me", badRequest("the two new passwords differ"), "")
			return
		}
		h.done(w, r, p, "/me", h.changePassword(r, p, f.Get("current"), f.Get("new")),
			"Password changed. Use the new one in your mail programs too.")
	case "settings":
		err := h.d.Ops.SetSettings(r.Context(), p.acc.Address, store.AccountSettings{
			ForwardTo: f.Get("forward_to"), ForwardKeep: f.Get("forward_keep") == "on",
			AwayEnabled: f.Get("away_enabled") == "on", AwaySubject: f.Get("away_subject"), AwayBody: f.Get("away_body")})
		h.done(w, r, p, "/me", err, "Settings saved: the server acts on them from the next message on.")
	case "rules":
		h.done(w, r, p, "/me", h.d.Ops.SetRules(r.Context(), p.acc.Address, f.Get("rules")), "Rules saved.")
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

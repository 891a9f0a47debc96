package adminweb

import (
	"errors"
	"net/http"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// settingsView is what users set on their own page.
type settingsView struct {
	ForwardTo   string `json:"forward_to"`
	ForwardKeep bool   `json:"forward_keep"`
	AwayEnabled bool   `json:"away_enabled"`
	AwaySubject string `json:"away_subject"`
	AwayBody    string `json:"away_body"`
}

func (h *Handler) apiMe(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := h.d.Ops.Settings(r.Context(), p.acc.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": viewAccount(*p.acc),
		"settings": settingsView{st.ForwardTo, st.ForwardKeep, st.AwayEnabled, st.AwaySubject, st.AwayBody},
		"client":   clientSettings(h.d.Ops.Published, p.acc.Address)})
	return nil
}

// changePassword checks the current password (through the shared login
// limiter) and sets the new one; the account's other sessions end.
func (h *Handler) changePassword(r *http.Request, p *principal, current, next string) error {
	_, err := h.d.Auth.Authenticate(r.Context(), p.acc.Address, current, remoteIP(r), "http")
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &admin.Error{Msg: "the current password is wrong", Err: store.ErrInvalidName}
	case errors.Is(err, auth.ErrTooManyFailures):
		return &admin.Error{Msg: "too many failed attempts; wait a few minutes", Err: store.ErrLocked}
	case err != nil:
		return err
	}
	if err := h.d.Ops.SetPassword(r.Context(), p.acc.Address, next); err != nil {
		return err
	}
	h.sessions.deleteAccount(p.acc.ID, p.sess.id)
	h.log.Info("admin: password changed by its user", "account", p.acc.Address)
	return nil
}

func (h *Handler) apiMePassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := h.changePassword(r, p, req.Current, req.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) apiMeSettings(w http.ResponseWriter, r *http.Request, p *principal) error {
	var v settingsView
	if err := decode(r, &v); err != nil {
		return err
	}
	err := h.d.Ops.SetSettings(r.Context(), p.acc.Address, store.AccountSettings{ForwardTo: v.ForwardTo,
		ForwardKeep: v.ForwardKeep, AwayEnabled: v.AwayEnabled, AwaySubject: v.AwaySubject, AwayBody: v.AwayBody})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// clientService is one line of the mail client settings.
type clientService struct {
	Service  string `json:"service"` // "IMAP", "POP3", "SMTP (sending)"
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"` // "SSL/TLS" or "STARTTLS"
	Username string `json:"username"`
}

// clientSettings lists what to type into a mail client, from the
// configuration's published ports (admin.PublishedFromConfig).
func clientSettings(pub admin.Published, user string) []clientService {
	var out []clientService
	add := func(service string, port int, security string) {
		if port > 0 {
			out = append(out, clientService{service, pub.Hostname, port, security, user})
		}
	}
	add("IMAP (incoming)", pub.IMAPS, "SSL/TLS")
	add("IMAP (incoming)", pub.IMAP, "STARTTLS")
	add("POP3 (incoming)", pub.POP3S, "SSL/TLS")
	add("POP3 (incoming)", pub.POP3, "STARTTLS")
	add("SMTP (outgoing)", pub.Submissions, "SSL/TLS")
	add("SMTP (outgoing)", pub.Submission, "STARTTLS")
	return out
}

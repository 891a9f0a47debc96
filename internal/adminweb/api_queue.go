package adminweb

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailauth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// queueView is a queue entry as the API shows it.
type queueView struct {
	ID          int64      `json:"id"`
	Domain      string     `json:"domain"`
	From        string     `json:"from"`
	Size        int64      `json:"size"`
	Created     time.Time  `json:"created"`
	NextAttempt time.Time  `json:"next_attempt"`
	LastAttempt time.Time  `json:"last_attempt,omitzero"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	Delivering  bool       `json:"delivering"` // leased by a queue runner now
	Rcpts       []rcptView `json:"rcpts"`
}

type rcptView struct {
	Addr      string `json:"addr"`
	Status    string `json:"status"`
	LastCode  int    `json:"last_code,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

func (h *Handler) viewQueue(e store.QueueEntry) queueView {
	v := queueView{ID: e.ID, Domain: e.Domain, From: e.From, Size: int64(len(e.Prefix)) + e.Blob.Size, Created: e.Created,
		NextAttempt: e.NextAttempt, LastAttempt: e.LastAttempt, Attempts: e.Attempts, LastError: e.LastError,
		Delivering: e.LeaseOwner != "" && e.LeaseUntil.After(h.d.Clock.Now()), Rcpts: []rcptView{}}
	for _, rc := range e.Rcpts {
		v.Rcpts = append(v.Rcpts, rcptView{Addr: rc.Addr, Status: rc.Status, LastCode: rc.LastCode, LastError: rc.LastError})
	}
	return v
}

func queueID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("queue id: want a positive number")
	}
	return id, nil
}

func (h *Handler) apiQueue(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit := 1000
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return badRequest("limit: want a positive number")
		}
		limit = min(n, 10000)
	}
	entries, err := h.d.Ops.QueueList(r.Context(), r.URL.Query().Get("domain"), limit)
	if err != nil {
		return err
	}
	out := make([]queueView, len(entries))
	for i, e := range entries {
		out[i] = h.viewQueue(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func (h *Handler) apiQueueEntry(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := queueID(r)
	if err != nil {
		return err
	}
	e, err := h.d.Ops.QueueShow(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.viewQueue(e))
	return nil
}

// apiQueueRetry retries one entry, or every entry for the id "all".
func (h *Handler) apiQueueRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	var id int64
	if r.PathValue("id") != "all" {
		var err error
		if id, err = queueID(r); err != nil {
			return err
		}
	}
	n, err := h.d.Ops.QueueRetry(r.Context(), id)
	if err != nil {
		return err
	}
	h.audit(p, "queue retry", "id", id, "entries", n)
	writeJSON(w, http.StatusOK, map[string]int{"entries": n})
	return nil
}

func (h *Handler) apiQueueBounce(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := queueID(r)
	if err != nil {
		return err
	}
	if err := h.d.Ops.QueueBounce(r.Context(), id); err != nil {
		return err
	}
	h.audit(p, "queue bounce", "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) apiQueueDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := queueID(r)
	if err != nil {
		return err
	}
	if err := h.d.Ops.QueueDelete(r.Context(), id); err != nil {
		return err
	}
	h.audit(p, "queue delete", "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type recordView struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Value   string `json:"value"`
	Purpose string `json:"purpose"`
}

type findingView struct {
	recordView
	Status string   `json:"status"` // ok, missing, wrong, error
	Got    []string `json:"got,omitempty"`
	Hint   string   `json:"hint,omitempty"`
}

func (h *Handler) apiDNS(w http.ResponseWriter, r *http.Request, p *principal) error {
	recs, err := h.d.Ops.DNSRecords(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	out := make([]recordView, len(recs))
	for i, rec := range recs {
		out[i] = recordView(rec)
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
	return nil
}

func viewFindings(fs []mailauth.Finding) (out []findingView, missing int) {
	out = make([]findingView, len(fs))
	for i, f := range fs {
		out[i] = findingView{recordView: recordView(f.Record), Status: string(f.Status), Got: f.Got, Hint: f.Hint}
		if f.Status != mailauth.StatusOK {
			missing++
		}
	}
	return out, missing
}

func (h *Handler) apiCheckDNS(w http.ResponseWriter, r *http.Request, p *principal) error {
	fs, err := h.d.Ops.CheckDNS(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	out, missing := viewFindings(fs)
	writeJSON(w, http.StatusOK, map[string]any{"findings": out, "ok": missing == 0, "problems": missing})
	return nil
}

// dkimView is a DKIM key without its private half.
type dkimView struct {
	Selector  string     `json:"selector"`
	Algorithm string     `json:"algorithm"`
	Created   time.Time  `json:"created"`
	Retired   *time.Time `json:"retired,omitempty"`
	Signing   bool       `json:"signing"`
	DNSName   string     `json:"dns_name"`
	DNSValue  string     `json:"dns_value"`
}

func (h *Handler) viewKeys(keys []mailauth.DKIMKey) []dkimView {
	now := h.d.Clock.Now()
	out := make([]dkimView, 0, len(keys))
	for _, k := range keys {
		v := dkimView{Selector: k.Selector, Algorithm: k.Algorithm, Created: k.Created, Retired: k.Retired, Signing: k.Signs(now)}
		v.DNSName, v.DNSValue, _ = mailauth.DNSRecord(k)
		out = append(out, v)
	}
	return out
}

func (h *Handler) apiDKIM(w http.ResponseWriter, r *http.Request, p *principal) error {
	keys, err := h.d.Ops.DKIMKeys(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	mk := make([]mailauth.DKIMKey, len(keys))
	for i, k := range keys {
		mk[i] = mailauth.DKIMKey(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": h.viewKeys(mk)})
	return nil
}

func (h *Handler) apiRotateDKIM(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Delay string `json:"delay"` // Go duration; "" = 0
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	var delay time.Duration
	if req.Delay != "" {
		d, err := time.ParseDuration(req.Delay)
		if err != nil || d < 0 {
			return badRequest("delay: want a duration like 48h")
		}
		delay = d
	}
	rot, err := h.d.Ops.RotateDKIM(r.Context(), r.PathValue("name"), delay)
	if err != nil {
		return err
	}
	h.audit(p, "dkim rotated", "domain", r.PathValue("name"))
	writeJSON(w, http.StatusOK, map[string]any{"new": h.viewKeys(rot.New), "retired": h.viewKeys(rot.Retire),
		"dropped": h.viewKeys(rot.Drop), "keys": h.viewKeys(rot.Keys)})
	return nil
}

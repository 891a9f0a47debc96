package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Vacation period bounds (RFC 5230 4.1 lets a site pick them; RFC 6131).
const (
	DefaultVacationPeriod = 7 * 24 * time.Hour
	MinVacationPeriod     = time.Minute
	MaxVacationPeriod     = 90 * 24 * time.Hour
)

// Vacation is a vacation action (RFC 5230 4). Whether a reply goes out
// (RFC 5230 4.5, RFC 3834) is the caller's decision.
type Vacation struct {
	Reason    string // the reply body (a MIME entity when Mime)
	Subject   string // "" = "Auto: " + the original subject
	From      string // "" = the recipient
	Addresses []string
	Mime      bool
	Handle    string // identifies this vacation for the once-per-period rule
	Period    time.Duration
}

func (r *run) vacation(a args) (*Vacation, error) {
	v := &Vacation{Reason: r.expand(a.pos[0].Strs[0]), Subject: r.expand(a.str("subject")),
		From: r.expand(a.str("from")), Mime: a.has("mime"), Handle: r.expand(a.str("handle")),
		Period: DefaultVacationPeriod}
	if a.has("addresses") {
		for _, s := range a.tags["addresses"].Strs {
			v.Addresses = append(v.Addresses, r.expand(s))
		}
	}
	switch {
	case a.has("days") && a.has("seconds"):
		return nil, errf(0, "vacation: :days and :seconds together")
	case a.has("days"):
		v.Period = time.Duration(a.tags["days"].Num) * 24 * time.Hour
	case a.has("seconds"):
		v.Period = time.Duration(a.tags["seconds"].Num) * time.Second
	}
	v.Period = min(max(v.Period, MinVacationPeriod), MaxVacationPeriod)
	if v.Handle == "" {
		// RFC 5230 4.2: the default handle depends on the arguments.
		h := sha256.Sum256([]byte(strings.Join([]string{v.Reason, v.Subject, v.From,
			strings.Join(v.Addresses, ","), boolStr(v.Mime)}, "\x00")))
		v.Handle = hex.EncodeToString(h[:12])
	}
	return v, nil
}

func boolStr(b bool) string {
	if b {
		return "mime"
	}
	return ""
}

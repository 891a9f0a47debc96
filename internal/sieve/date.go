package sieve

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// dateParts maps a date part to its formatter (RFC 5260 4.2).
var dateParts = map[string]func(t time.Time) string{
	"year":  func(t time.Time) string { return fmt.Sprintf("%04d", t.Year()) },
	"month": func(t time.Time) string { return fmt.Sprintf("%02d", int(t.Month())) },
	"day":   func(t time.Time) string { return fmt.Sprintf("%02d", t.Day()) },
	"date":  func(t time.Time) string { return t.Format("2006-01-02") },
	"julian": func(t time.Time) string {
		// Modified Julian Day: days since 1858-11-17.
		y, m, d := t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return fmt.Sprint(int(day.Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours() / 24))
	},
	"hour":    func(t time.Time) string { return fmt.Sprintf("%02d", t.Hour()) },
	"minute":  func(t time.Time) string { return fmt.Sprintf("%02d", t.Minute()) },
	"second":  func(t time.Time) string { return fmt.Sprintf("%02d", t.Second()) },
	"time":    func(t time.Time) string { return t.Format("15:04:05") },
	"iso8601": func(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") },
	"std11":   func(t time.Time) string { return t.Format("Mon, 02 Jan 2006 15:04:05 -0700") },
	"zone":    func(t time.Time) string { return t.Format("-0700") },
	"weekday": func(t time.Time) string { return fmt.Sprint(int(t.Weekday())) },
}

// dateTest runs date and currentdate (RFC 5260 4, 5).
func (r *run) dateTest(name string, a args) (bool, error) {
	var times []time.Time
	if name == "currentdate" {
		times = []time.Time{r.env.Now}
	} else {
		for _, v := range r.headerValues(a, []string{a.pos[0].Strs[0]}) {
			// RFC 5260 4.1: the date is the part after the last ';' (Received).
			if i := strings.LastIndexByte(v, ';'); i >= 0 {
				v = v[i+1:]
			}
			t, err := mail.ParseDate(strings.TrimSpace(v))
			if err != nil {
				continue // an unparseable date makes the test fail
			}
			times = append(times, t)
		}
	}
	part := strings.ToLower(r.expand(a.pos[len(a.pos)-2].Strs[0]))
	f, ok := dateParts[part]
	if !ok {
		return false, errf(0, "unknown date part %q", part)
	}
	var vals []string
	for _, t := range times {
		switch {
		case a.has("zone"):
			loc, err := parseZone(r.expand(a.str("zone")))
			if err != nil {
				return false, err
			}
			t = t.In(loc)
		case !a.has("originalzone") && name == "date":
			t = t.In(r.env.Now.Location()) // the local zone by default
		}
		vals = append(vals, f(t))
	}
	return r.match(newMatcher(a), vals, a.pos[len(a.pos)-1].Strs)
}

// parseZone reads "+hhmm" / "-hhmm" (RFC 5260 4.1.1).
func parseZone(z string) (*time.Location, error) {
	t, err := time.Parse("-0700", z)
	if err != nil {
		return nil, errf(0, "bad :zone %q", z)
	}
	return t.Location(), nil
}

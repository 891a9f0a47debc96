package delivery

import (
	"context"
	"log/slog"
	"net/netip"
)

// logResults writes one event=delivery-attempt line per recipient.
func (t *Transport) logResults(domain string, c *client, results []RcptResult) {
	for _, r := range results {
		attrs := []any{
			"event", "delivery-attempt", "domain", domain, "rcpt", sanitize(r.Rcpt),
			"result", r.Status.String(), "code", r.Code, "enhanced", r.Enhanced, "msg", r.Message,
		}
		if r.Host != "" {
			attrs = append(attrs, "host", r.Host)
		}
		if r.IP.IsValid() {
			attrs = append(attrs, "ip", r.IP.String())
		}
		if c != nil {
			v, cipher := c.tlsDesc()
			attrs = append(attrs, "tls", v)
			if cipher != "" {
				attrs = append(attrs, "cipher", cipher)
			}
		}
		if r.Err != nil {
			attrs = append(attrs, "err", sanitize(r.Err.Error()))
		}
		level := slog.LevelInfo
		if r.Status != Delivered {
			level = slog.LevelWarn
		}
		t.cfg.Log.Log(context.Background(), level, "delivery attempt", attrs...)
	}
}

// logConnFailure records a host that could not be used for this attempt.
func (t *Transport) logConnFailure(host string, ip netip.Addr, f *failure) {
	attrs := []any{"event", "delivery-attempt", "stage", "connect", "host", host, "ip", ip.String(), "msg", f.msg}
	if f.reply != nil {
		attrs = append(attrs, "reply", f.reply.String())
	}
	if f.tls {
		attrs = append(attrs, "tls_failed", true)
	}
	t.cfg.Log.Warn("delivery connect failed", attrs...)
}

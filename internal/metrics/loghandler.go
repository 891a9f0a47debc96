package metrics

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// LogHandler wraps next: it sees every record, whatever the configured
// level, counts what metrics need from it, and forwards to next only the
// records next enables.
func (m *Metrics) LogHandler(next slog.Handler) slog.Handler {
	return &logHandler{m: m, next: next}
}

type logHandler struct {
	m    *Metrics
	next slog.Handler
	// proto is a "proto" attribute bound with Logger.With (auth logs that way).
	proto string
}

// Enabled is true for every level: the records are counted even when they
// are not written. Records below next's level cost their construction only.
func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	h.count(r)
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *logHandler) count(r slog.Record) {
	switch {
	case r.Message == "event":
		var kind string
		var queuedFor time.Duration
		hasLatency := false
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "event":
				kind = a.Value.String()
			case "queued_for":
				if a.Value.Kind() == slog.KindDuration {
					queuedFor, hasLatency = a.Value.Duration(), true
				}
			}
			return true
		})
		if !counted(kind) {
			return
		}
		h.m.event(kind)
		if kind == "delivered" && hasLatency {
			h.m.latency.Observe(queuedFor.Seconds())
		}
	case strings.HasPrefix(r.Message, "auth failed") || strings.HasPrefix(r.Message, "auth refused"):
		proto := h.proto
		if proto == "" {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "proto" {
					proto = a.Value.String()
					return false
				}
				return true
			})
		}
		if proto == "" {
			proto = "unknown"
		}
		h.m.authFailures.WithLabelValues(proto).Inc()
	case r.Message == "pop3: command":
		h.m.commands.WithLabelValues("pop3").Inc()
	}
}

func counted(kind string) bool {
	for _, e := range Events {
		if e == kind {
			return true
		}
	}
	return false
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		if a.Key == "proto" {
			c.proto = a.Value.String()
		}
	}
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

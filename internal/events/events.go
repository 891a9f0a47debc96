// Package events writes the mail events of a server: one method per event
// (received, rejected, queued, delivered, deferred, bounced, DSN sent,
// filtered, auth failed...) writes the log line (`msg=event event=KIND`,
// or the auth failure's own message) on the caller's logger and counts it
// in the server's metrics. Counting at the place that decides, not from
// the log text, makes each event counted exactly once.
//
// A *Log is injected into the packages that produce events; a nil *Log
// still writes the lines and counts nothing (tests, tools).
package events

import (
	"context"
	"log/slog"
	"time"
)

// Event kinds (the `event` log attribute, and the metrics label).
const (
	Received    = "received"
	Rejected    = "rejected"
	Queued      = "queued"
	Delivered   = "delivered"
	Deferred    = "deferred"
	Bounced     = "bounced"
	DSN         = "dsn"
	Filtered    = "filtered"
	AutoReplied = "auto-replied"
)

// Sink counts events; *metrics.Metrics is one.
type Sink interface {
	// MailEvent counts one mail event of kind.
	MailEvent(kind string)
	// AuthFailure counts a failed or refused login over proto.
	AuthFailure(proto string)
	// DeliveryLatency records the time from queueing to delivery.
	DeliveryLatency(d time.Duration)
	// Command counts one protocol command over proto.
	Command(proto string)
}

// Log writes and counts events. Its methods are safe on a nil *Log.
type Log struct {
	sink Sink
}

// New returns a Log counting into sink (nil: count nothing).
func New(sink Sink) *Log { return &Log{sink: sink} }

func (l *Log) count(kind string) {
	if l != nil && l.sink != nil {
		l.sink.MailEvent(kind)
	}
}

// write logs `event` with event=kind first, then attrs.
func write(lg *slog.Logger, lvl slog.Level, kind string, attrs []any) {
	if lg == nil {
		return
	}
	lg.Log(context.Background(), lvl, "event", append([]any{"event", kind}, attrs...)...)
}

// MessageReceived is a message accepted (our 250). attrs name the
// transaction, its queue ids and Message-ID.
func (l *Log) MessageReceived(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelInfo, Received, attrs)
	l.count(Received)
}

// MessageRejected is a message or recipient refused; a temporary refusal
// (4xx) is a warning.
func (l *Log) MessageRejected(lg *slog.Logger, code int, attrs ...any) {
	lvl := slog.LevelInfo
	if code/100 == 4 {
		lvl = slog.LevelWarn
	}
	write(lg, lvl, Rejected, attrs)
	l.count(Rejected)
}

// MessageQueued is a queue entry created for a message (one per
// destination domain).
func (l *Log) MessageQueued(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelInfo, Queued, attrs)
	l.count(Queued)
}

// RcptDelivered is one remote recipient delivered, queuedFor after the
// message was queued (recorded as the delivery latency and logged as
// queued_for after attrs).
func (l *Log) RcptDelivered(lg *slog.Logger, queuedFor time.Duration, attrs ...any) {
	write(lg, slog.LevelInfo, Delivered, append(attrs, "queued_for", queuedFor))
	l.count(Delivered)
	if l != nil && l.sink != nil {
		l.sink.DeliveryLatency(queuedFor)
	}
}

// RcptDeferred is one recipient's temporary failure: it stays queued.
func (l *Log) RcptDeferred(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelWarn, Deferred, attrs)
	l.count(Deferred)
}

// RcptBounced is one recipient's final failure.
func (l *Log) RcptBounced(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelWarn, Bounced, attrs)
	l.count(Bounced)
}

// DSNSent is a delivery status notification filed for a sender.
func (l *Log) DSNSent(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelInfo, DSN, attrs)
	l.count(DSN)
}

// MessageFiltered is a Sieve script's action on a local delivery (logged,
// not counted).
func (l *Log) MessageFiltered(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelInfo, Filtered, attrs)
}

// AutoReply is a vacation or reply sent by a Sieve script (logged, not
// counted).
func (l *Log) AutoReply(lg *slog.Logger, attrs ...any) {
	write(lg, slog.LevelInfo, AutoReplied, attrs)
}

// AuthFailed is a failed (or, refused true, a refused) login over proto,
// logged with message msg ("auth failed...", "auth refused...") and attrs;
// lg or attrs name the proto.
func (l *Log) AuthFailed(lg *slog.Logger, proto string, refused bool, msg string, attrs ...any) {
	if lg != nil {
		lvl := slog.LevelInfo
		if refused {
			lvl = slog.LevelWarn
		}
		lg.Log(context.Background(), lvl, msg, attrs...)
	}
	if l != nil && l.sink != nil {
		l.sink.AuthFailure(proto)
	}
}

// Command counts one protocol command over proto (the caller logs it at
// the level it likes: commands are many).
func (l *Log) Command(proto string) {
	if l != nil && l.sink != nil {
		l.sink.Command(proto)
	}
}

package events

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type sink struct {
	events  map[string]int
	auth    map[string]int
	latency []time.Duration
	cmds    int
}

func (s *sink) MailEvent(kind string)           { s.events[kind]++ }
func (s *sink) AuthFailure(proto string)        { s.auth[proto]++ }
func (s *sink) DeliveryLatency(d time.Duration) { s.latency = append(s.latency, d) }
func (s *sink) Command(string)                  { s.cmds++ }

func TestEachEventWrittenAndCountedOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := &sink{events: map[string]int{}, auth: map[string]int{}}
	l := New(s)
	l.MessageReceived(lg, "tx", "t1")
	l.MessageRejected(lg, 550, "tx", "t1")
	l.MessageRejected(lg, 452, "tx", "t2")
	l.MessageQueued(lg, "queue_id", 1)
	l.RcptDelivered(lg, time.Minute, "queue_id", 1)
	l.RcptDeferred(lg)
	l.RcptBounced(lg)
	l.DSNSent(lg)
	l.MessageFiltered(lg)
	l.AutoReply(lg)
	l.AuthFailed(lg, "imap", false, "auth failed", "proto", "imap")
	l.Command("pop3")

	want := map[string]int{Received: 1, Rejected: 2, Queued: 1, Delivered: 1, Deferred: 1, Bounced: 1, DSN: 1}
	for k, n := range want {
		if s.events[k] != n {
			t.Errorf("%s counted %d times, want %d", k, s.events[k], n)
		}
	}
	if len(s.events) != len(want) || s.auth["imap"] != 1 || len(s.auth) != 1 || s.cmds != 1 ||
		len(s.latency) != 1 || s.latency[0] != time.Minute {
		t.Errorf("counted %+v", s)
	}
	out := buf.String()
	for _, line := range []string{
		`level=INFO msg=event event=received tx=t1`,
		`level=INFO msg=event event=rejected tx=t1`,
		`level=WARN msg=event event=rejected tx=t2`,
		`level=INFO msg=event event=delivered queue_id=1 queued_for=1m0s`,
		`level=WARN msg=event event=bounced`,
		`level=INFO msg=event event=filtered`,
		`level=INFO msg=event event=auto-replied`,
		`level=INFO msg="auth failed" proto=imap`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("log lacks %q:\n%s", line, out)
		}
	}
}

// A nil *Log writes and counts nothing without failing (tools, tests).
func TestNilLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var l *Log
	l.MessageReceived(slog.New(slog.NewTextHandler(&buf, nil)), "tx", "t1")
	l.RcptDelivered(nil, time.Second)
	l.AuthFailed(nil, "smtp", true, "auth refused")
	l.Command("pop3")
	if !strings.Contains(buf.String(), "event=received tx=t1") {
		t.Errorf("log: %q", buf.String())
	}
}

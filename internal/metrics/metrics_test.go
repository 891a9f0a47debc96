package metrics

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/events"
)

// TestEventsCounted: the events.Log counts into the registry whatever the
// log level, each event once.
func TestEventsCounted(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 11, 26, 23, 0, 0, 0, time.Local))
	m := New(clk)
	ev := events.New(m)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := log.With("component", "queue")
	ev.MessageReceived(log, "tx", "a")
	ev.RcptDelivered(q, 90*time.Second)
	ev.RcptDeferred(q)
	ev.RcptBounced(q)
	ev.AuthFailed(log.With("proto", "imap"), "imap", false, "auth failed", "reason", "wrong password")
	ev.AuthFailed(log, "smtp", true, "auth refused: too many failures", "proto", "smtp")
	ev.Command("pop3")
	ev.Command("pop3")

	for kind, want := range map[string]float64{"received": 1, "delivered": 1, "deferred": 1, "bounced": 1, "rejected": 0} {
		if got := testutil.ToFloat64(m.events.WithLabelValues(kind)); got != want {
			t.Errorf("events{%s} = %v, want %v", kind, got, want)
		}
	}
	for proto, want := range map[string]float64{"imap": 1, "smtp": 1, "pop3": 0} {
		if got := testutil.ToFloat64(m.authFailures.WithLabelValues(proto)); got != want {
			t.Errorf("auth failures %s = %v, want %v", proto, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.authFailures); n != 4 {
		t.Errorf("auth failure series = %d, want the 4 protocols (no \"unknown\")", n)
	}
	if got := testutil.ToFloat64(m.commands.WithLabelValues("pop3")); got != 2 {
		t.Errorf("pop3 commands = %v", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("latency series = %d", n)
	}
	// Only warnings were written.
	out := buf.String()
	if strings.Contains(out, "received") || !strings.Contains(out, "event=deferred") {
		t.Errorf("log:\n%s", out)
	}
	today := m.EventsToday()
	if today["received"] != 1 || today["bounced"] != 1 {
		t.Errorf("today = %v", today)
	}
	clk.Advance(2 * time.Hour) // the next day
	if today := m.EventsToday(); len(today) != 0 {
		t.Errorf("after midnight, today = %v", today)
	}
	ev.MessageReceived(log)
	if today := m.EventsToday(); today["received"] != 1 || today["bounced"] != 0 {
		t.Errorf("new day = %v", today)
	}
}

func TestListenerCounts(t *testing.T) {
	t.Parallel()
	m := New(nil)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := m.Listener("imap", raw)
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, <-accepted)
	}
	conns[0].Close()
	conns[0].Close() // twice: counted once
	if got := testutil.ToFloat64(m.conns.WithLabelValues("imap")); got != 3 {
		t.Errorf("total = %v", got)
	}
	if got := testutil.ToFloat64(m.active.WithLabelValues("imap")); got != 2 {
		t.Errorf("active = %v", got)
	}
}

func TestQueueCollector(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	m := New(clk)
	fail := false
	m.RegisterQueue(func(context.Context) (int, int, time.Time, error) {
		if fail {
			return 0, 0, time.Time{}, errors.New("database down")
		}
		return 4, 1, clk.Now().Add(-time.Hour), nil
	})
	want := `
# HELP kantorpos_queue_entries Messages in the outbound queue (one per destination domain).
# TYPE kantorpos_queue_entries gauge
kantorpos_queue_entries 4
# HELP kantorpos_queue_oldest_age_seconds Age of the oldest queue entry (0 when empty).
# TYPE kantorpos_queue_oldest_age_seconds gauge
kantorpos_queue_oldest_age_seconds 3600
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "kantorpos_queue_entries", "kantorpos_queue_oldest_age_seconds"); err != nil {
		t.Fatal(err)
	}
	fail = true
	if _, err := m.Registry.Gather(); err == nil {
		t.Fatal("a store error does not show in the scrape")
	}
}

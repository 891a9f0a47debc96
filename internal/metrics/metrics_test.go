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
)

func TestLogHandlerCountsBelowLevel(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 11, 26, 23, 0, 0, 0, time.Local))
	m := New(clk)
	var buf bytes.Buffer
	log := slog.New(m.LogHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	q := log.With("component", "queue")
	log.Info("event", "event", "received", "tx", "a")
	q.Info("event", "event", "delivered", "queued_for", 90*time.Second)
	q.Warn("event", "event", "deferred")
	q.Warn("event", "event", "bounced")
	q.Info("event", "event", "delivery-attempt") // not a mail event
	log.With("proto", "imap", "ip", "127.0.0.1").Info("auth failed", "reason", "wrong password")
	log.Warn("auth refused: too many failures", "proto", "smtp")
	log.Debug("pop3: command", "cmd", "STAT")
	log.Debug("pop3: command", "cmd", "QUIT")

	for kind, want := range map[string]float64{"received": 1, "delivered": 1, "deferred": 1, "bounced": 1, "rejected": 0} {
		if got := testutil.ToFloat64(m.events.WithLabelValues(kind)); got != want {
			t.Errorf("events{%s} = %v, want %v", kind, got, want)
		}
	}
	if got := testutil.ToFloat64(m.authFailures.WithLabelValues("imap")); got != 1 {
		t.Errorf("auth failures imap = %v", got)
	}
	if got := testutil.ToFloat64(m.authFailures.WithLabelValues("smtp")); got != 1 {
		t.Errorf("auth failures smtp = %v", got)
	}
	if got := testutil.ToFloat64(m.commands.WithLabelValues("pop3")); got != 2 {
		t.Errorf("pop3 commands = %v", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("latency series = %d", n)
	}
	// Only warnings reached the real handler.
	out := buf.String()
	if strings.Contains(out, "received") || strings.Contains(out, "pop3: command") || !strings.Contains(out, "deferred") {
		t.Errorf("forwarded log:\n%s", out)
	}
	today := m.EventsToday()
	if today["received"] != 1 || today["bounced"] != 1 {
		t.Errorf("today = %v", today)
	}
	clk.Advance(2 * time.Hour) // the next day
	if today := m.EventsToday(); len(today) != 0 {
		t.Errorf("after midnight, today = %v", today)
	}
	log.Info("event", "event", "received")
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

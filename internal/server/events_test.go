package server_test

import (
	"bytes"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// lockedBuffer collects log lines written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(b.buf.String(), "\n")
}

// TestLogsFollowOneMessage: the log lines of one message, from its
// arrival on A to its delivery to B, share its id (tx=): the received line
// names the queue entries it made and the Message-ID, and every queue line
// names tx, the queue id and the Message-ID.
func TestLogsFollowOneMessage(t *testing.T) {
	t.Parallel()
	d := dnstest.New(t)
	clk := clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	b := testenv.Start(t, testenv.Options{Hostname: "mx.b.test", DNS: d, Clock: clk})
	bob := b.AddUser(t, "bob@b.test", "bob's password")
	_, bPort, _ := net.SplitHostPort(b.Addr["smtp"])
	port, _ := strconv.Atoi(bPort)
	logs := &lockedBuffer{}
	a := testenv.Start(t, testenv.Options{Hostname: "mx.c.test", DNS: d, Clock: clk, LogLevel: slog.LevelDebug,
		LogWriter: logs, Configure: func(c *config.Config) { c.Queue.Port = port }})
	a.AddUser(t, "cat@c.test", "cat's password")
	d.Add(t, "b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.1")

	const messageID = "<follow-me.1@c.test>"
	submit(t, a, "cat@c.test", "cat's password", "cat@c.test", []string{"bob@b.test"},
		"From: cat@c.test\r\nTo: bob@b.test\r\nMessage-ID: "+messageID+"\r\nSubject: follow\r\n\r\nhi\r\n")
	waitInbox(t, b, bob, 1)
	testenv.WaitFor(t, 20*time.Second, "the delivered line", func() bool {
		for _, l := range logs.lines() {
			if strings.Contains(l, "event=delivered") {
				return true
			}
		}
		return false
	})

	field := func(line, key string) string {
		m := regexp.MustCompile(`(?:^| )` + key + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
		if m == nil {
			return ""
		}
		if v, err := strconv.Unquote(m[1]); err == nil {
			return v
		}
		return m[1]
	}
	var tx, queueIDs string
	kinds := map[string]int{}
	for _, l := range logs.lines() {
		if field(l, "msg") != "event" {
			continue
		}
		kind := field(l, "event")
		if kind == "received" {
			tx, queueIDs = field(l, "tx"), field(l, "queue_ids")
		}
		if tx == "" || field(l, "tx") != tx {
			continue
		}
		kinds[kind]++
		if got := field(l, "message_id"); got != messageID {
			t.Errorf("%s line: message_id %q, want %q\n%s", kind, got, messageID, l)
		}
		if kind != "received" {
			if q := field(l, "queue_id"); q == "" || queueIDs != "["+q+"]" {
				t.Errorf("%s line: queue_id %q, the received line named %q\n%s", kind, q, queueIDs, l)
			}
		}
	}
	if tx == "" {
		t.Fatalf("no received line:\n%s", strings.Join(logs.lines(), "\n"))
	}
	for _, k := range []string{"received", "queued", "delivered"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s lines with tx=%s, want 1 (all: %v)", kinds[k], k, tx, kinds)
		}
	}
}

package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a receiver, a DNS server and a Transport pointed at both.
type fixture struct {
	dns  *dnstest.Server
	rcv  *receiver
	tr   *Transport
	logs *syncBuffer
}

// setup starts a receiver configured by rc and a DNS server with records,
// and builds a Transport whose MX port is the receiver's. mod may adjust
// the Config before New.
func setup(t testing.TB, rc recvConfig, records []string, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{dns: dnstest.New(t), rcv: newReceiver(t, rc), logs: &syncBuffer{}}
	if len(records) > 0 {
		f.dns.Add(t, records...)
	}
	cfg := Config{
		Resolver:  f.dns.Resolver(),
		Hostname:  "mta.a.test",
		Port:      f.rcv.port,
		TLSConfig: &tls.Config{RootCAs: f.rcv.ca},
		Timeouts: Timeouts{
			Connect: 20 * time.Second, Greeting: 20 * time.Second, Command: 20 * time.Second,
			DataInit: 20 * time.Second, DataBlock: 20 * time.Second, DataEnd: 20 * time.Second,
		},
		Log: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	f.tr = tr
	return f
}

// mxRecords is the usual one-MX zone for b.test on 127.0.0.1.
var mxRecords = []string{"b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.1"}

// newMsg is a message from alice@a.test with body to rcpts.
func newMsg(body string, rcpts ...string) *Message {
	m := &Message{
		From: "alice@a.test",
		Size: int64(len(body)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, Rcpt{Addr: r})
	}
	return m
}

const simpleBody = "From: alice@a.test\r\nTo: bob@b.test\r\nSubject: hi\r\n\r\nHello.\r\n"

func deliver(t *testing.T, tr *Transport, m *Message) []RcptResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := tr.Deliver(ctx, m)
	if len(res) != len(m.Rcpts) {
		t.Fatalf("got %d results for %d recipients", len(res), len(m.Rcpts))
	}
	for i, r := range res {
		if r.Rcpt != m.Rcpts[i].Addr {
			t.Errorf("result %d is for %q, want %q", i, r.Rcpt, m.Rcpts[i].Addr)
		}
		if r.Status == 0 || r.Enhanced == "" {
			t.Errorf("result %d incomplete: %+v", i, r)
		}
		if r.Status != Delivered && r.Enhanced[0] != map[Status]byte{TempFail: '4', PermFail: '5'}[r.Status] {
			t.Errorf("result %d: enhanced code %s disagrees with status %v", i, r.Enhanced, r.Status)
		}
	}
	return res
}

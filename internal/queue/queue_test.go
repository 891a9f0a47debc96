package queue

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/delivery"
	"github.com/kantorpos/kantorpos/internal/localmail"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

var ctx = context.Background()

// fakeTransport answers per recipient from a table and records what it got.
type fakeTransport struct {
	mu      sync.Mutex
	answers map[string]delivery.RcptResult // by recipient; missing = Delivered
	bodies  []string
	calls   int
}

func (f *fakeTransport) Deliver(_ context.Context, m *delivery.Message) []delivery.RcptResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if rc, err := m.Open(); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		f.bodies = append(f.bodies, string(b))
	}
	var out []delivery.RcptResult
	for _, r := range m.Rcpts {
		res, ok := f.answers[r.Addr]
		if !ok {
			res = delivery.RcptResult{Status: delivery.Delivered, Code: 250, Enhanced: "2.0.0", Remote: true, PeerDSN: true, Host: "mx.remote.test"}
		}
		res.Rcpt = r.Addr
		out = append(out, res)
	}
	return out
}

type env struct {
	st    *sqlstore.Store
	clock *clock.Fake
	tr    *fakeTransport
	r     *Runner
	amy   store.Account
	blobs *blob.FS
}

func newEnv(t *testing.T, configure ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	blobs, _ := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	fc := clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "db"), Blobs: blobs, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.AddDomain(ctx, "example.test")
	amy, _ := st.CreateAccount(ctx, "amy@example.test", "h")
	tr := &fakeTransport{answers: map[string]delivery.RcptResult{}}
	inj := &localmail.Injector{Router: router.New(st, ""), Blobs: blobs, Deliverer: st, Clock: fc}
	cfg := Config{Hostname: "mx.example.test", Owner: "test"}
	for _, f := range configure {
		f(&cfg)
	}
	r := New(cfg, st, blobs, tr, inj, fc, nil)
	return &env{st: st, clock: fc, tr: tr, r: r, amy: amy, blobs: blobs}
}

func (e *env) enqueue(t *testing.T, from string, rcpts ...store.OutRcpt) int64 {
	t.Helper()
	w, _ := e.blobs.Create(ctx)
	io.WriteString(w, "From: "+from+"\r\nSubject: test message\r\n\r\nbody\r\n")
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.st.Deliver(ctx, &store.Delivery{Blob: ref, ReceivedAt: e.clock.Now(),
		Remote: &store.Outbound{From: from, Rcpts: rcpts, Prefix: []byte("DKIM-Signature: x\r\n")}})
	if err != nil {
		t.Fatal(err)
	}
	return res.QueueIDs[0]
}

func (e *env) run(t *testing.T) int {
	t.Helper()
	n, err := e.r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// reports returns the subjects of the DSNs in amy's INBOX.
func (e *env) reports(t *testing.T) []string {
	t.Helper()
	inbox, _ := e.st.Mailbox(ctx, e.amy.ID, "INBOX")
	msgs, _ := e.st.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	var out []string
	for _, m := range msgs {
		c, _ := e.st.OpenMessage(ctx, &m)
		b, _ := io.ReadAll(c)
		c.Close()
		out = append(out, string(b))
	}
	return out
}

var temp = delivery.RcptResult{Status: delivery.TempFail, Code: 451, Enhanced: "4.3.0", Message: "try later", Remote: true, Host: "mx.remote.test"}
var perm = delivery.RcptResult{Status: delivery.PermFail, Code: 550, Enhanced: "5.1.1", Message: "no such user", Remote: true, Host: "mx.remote.test"}

func TestScheduleAndOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tr.answers["soon@remote.test"] = temp
	e.tr.answers["gone@remote.test"] = perm
	id := e.enqueue(t, "amy@example.test", store.OutRcpt{Addr: "ok@remote.test"}, store.OutRcpt{Addr: "soon@remote.test"},
		store.OutRcpt{Addr: "gone@remote.test"})
	if n := e.run(t); n != 1 {
		t.Fatalf("first run made %d attempts", n)
	}
	if !strings.HasPrefix(e.tr.bodies[0], "DKIM-Signature: x\r\nFrom: amy@example.test") {
		t.Fatalf("sent body = %q", e.tr.bodies[0])
	}
	en, err := e.st.QueueEntry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, r := range en.Rcpts {
		state[r.Addr] = r.Status
	}
	if state["ok@remote.test"] != store.RcptDelivered || state["soon@remote.test"] != store.RcptPending || state["gone@remote.test"] != store.RcptFailed {
		t.Fatalf("states = %v", state)
	}
	if !en.NextAttempt.Equal(e.clock.Now().Add(15*time.Minute)) || en.Attempts != 1 || !strings.Contains(en.LastError, "451") {
		t.Fatalf("entry = %+v", en)
	}
	rep := e.reports(t)
	if len(rep) != 1 || !strings.Contains(rep[0], "gone@remote.test") || strings.Contains(rep[0], "Final-Recipient: rfc822; ok@remote.test") ||
		strings.Contains(rep[0], "Final-Recipient: rfc822; soon@remote.test") {
		t.Fatalf("bounce for the 5xx only, got %d reports:\n%s", len(rep), strings.Join(rep, "\n----\n"))
	}
	// Not due before 15 minutes; due after.
	e.clock.Advance(14 * time.Minute)
	if n := e.run(t); n != 0 {
		t.Fatalf("attempted %d before the retry interval", n)
	}
	e.clock.Advance(time.Minute)
	delete(e.tr.answers, "soon@remote.test")
	if n := e.run(t); n != 1 || e.tr.calls != 2 {
		t.Fatalf("retry: %d attempts, %d calls", n, e.tr.calls)
	}
	if _, err := e.st.QueueEntry(ctx, id); err == nil {
		t.Fatal("entry still queued after the last recipient was delivered")
	}
	// The retry only went to the recipient still pending.
	if e.tr.calls != 2 {
		t.Fatal("extra calls")
	}
}

func TestDelayWarningOnceAndExpiry(t *testing.T) {
	t.Parallel()
	// A 7-hour interval keeps the test short; 120h is not a multiple of it,
	// so the last attempt must be clamped to the give-up time.
	e := newEnv(t, func(c *Config) { c.RetryInterval = 7 * time.Hour })
	e.tr.answers["slow@remote.test"] = temp
	e.enqueue(t, "amy@example.test", store.OutRcpt{Addr: "slow@remote.test"})
	e.run(t)
	e.clock.Advance(7 * time.Hour)
	e.run(t)
	e.clock.Advance(7 * time.Hour)
	e.run(t)
	rep := e.reports(t)
	if len(rep) != 1 || !strings.Contains(rep[0], "Action: delayed") {
		t.Fatalf("want exactly one delay warning, got %d", len(rep))
	}
	// The last retry is clamped to the give-up time, where the message bounces.
	for i := 0; i < 1000 && len(e.reports(t)) < 2; i++ {
		next, ok, _ := e.st.NextQueueAttempt(ctx)
		if !ok {
			break
		}
		e.clock.Set(next)
		e.run(t)
	}
	rep = e.reports(t)
	if len(rep) != 2 || !strings.Contains(rep[1], "Action: failed") || !strings.Contains(rep[1], "Status: 4.4.7") {
		t.Fatalf("expiry bounce: %d reports", len(rep))
	}
	if got := e.clock.Now().Sub(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)); got != 120*time.Hour {
		t.Fatalf("bounced after %v, want exactly 120h", got)
	}
	if _, ok, _ := e.st.NextQueueAttempt(ctx); ok {
		t.Fatal("queue not empty after expiry")
	}
}

func TestNotifyRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		from    string
		rcpt    store.OutRcpt
		answer  *delivery.RcptResult
		reports int
		action  string
	}{
		{"failure by default", "amy@example.test", store.OutRcpt{Addr: "a@remote.test"}, &perm, 1, "Action: failed"},
		{"NEVER", "amy@example.test", store.OutRcpt{Addr: "a@remote.test", Notify: "NEVER"}, &perm, 0, ""},
		{"null sender never bounces", "", store.OutRcpt{Addr: "a@remote.test"}, &perm, 0, ""},
		{"success", "amy@example.test", store.OutRcpt{Addr: "a@remote.test", Notify: "SUCCESS"}, nil, 1, "Action: delivered"},
		{"success relayed", "amy@example.test", store.OutRcpt{Addr: "a@remote.test", Notify: "SUCCESS"},
			&delivery.RcptResult{Status: delivery.Delivered, Code: 250, Enhanced: "2.0.0", Remote: true}, 1, "Action: relayed"},
		{"no success report by default", "amy@example.test", store.OutRcpt{Addr: "a@remote.test"}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.answer != nil {
				e.tr.answers[tt.rcpt.Addr] = *tt.answer
			}
			e.enqueue(t, tt.from, tt.rcpt)
			e.run(t)
			rep := e.reports(t)
			if len(rep) != tt.reports || tt.reports > 0 && !strings.Contains(rep[0], tt.action) {
				t.Fatalf("%d reports (want %d with %q)", len(rep), tt.reports, tt.action)
			}
			if _, ok, _ := e.st.NextQueueAttempt(ctx); ok {
				t.Fatal("entry left in the queue")
			}
		})
	}
}

func TestBounceByAdministrator(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tr.answers["stuck@remote.test"] = temp
	id := e.enqueue(t, "amy@example.test", store.OutRcpt{Addr: "stuck@remote.test"})
	e.run(t)
	if err := e.r.Bounce(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	rep := e.reports(t)
	if len(rep) != 1 || !strings.Contains(rep[0], "returned to the sender by the postmaster") || !strings.Contains(rep[0], "451") {
		t.Fatalf("administrator bounce: %q", rep)
	}
	if err := e.r.Bounce(ctx, id, ""); err == nil {
		t.Fatal("second bounce of a removed entry succeeded")
	}
}

// Run delivers at once when kicked and stops with its context.
func TestRunKick(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.r.Run(runCtx) }()
	e.enqueue(t, "amy@example.test", store.OutRcpt{Addr: "x@remote.test"})
	e.r.Kick()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, _ := e.st.NextQueueAttempt(ctx); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("kicked runner did not deliver")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
}

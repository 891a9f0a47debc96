package storetest

import (
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func enqueue(t *testing.T, e Env, domains ...string) []int64 {
	t.Helper()
	var rcpts []store.OutRcpt
	for i, d := range domains {
		rcpts = append(rcpts, store.OutRcpt{Addr: "r" + itoa(i) + "@" + d})
	}
	res, err := e.Store.Deliver(ctx, &store.Delivery{Blob: PutBlob(t, e.Blobs, Msg("out", "x")), ReceivedAt: e.Clock.Now(),
		Remote: &store.Outbound{From: "s@example.test", Rcpts: rcpts}})
	must(t, err)
	return res.QueueIDs
}

func testQueueLease(t *testing.T, e Env) {
	s := e.Store
	ids := enqueue(t, e, "a.test", "b.test", "c.test")
	now := e.Clock.Now()
	got, err := s.LeaseQueue(ctx, now, "node1", time.Minute, 2)
	must(t, err)
	if len(got) != 2 || got[0].LeaseOwner != "node1" || len(got[0].Rcpts) != 1 {
		t.Fatalf("lease = %+v", got)
	}
	rest, _ := s.LeaseQueue(ctx, now, "node2", time.Minute, 10)
	if len(rest) != 1 || rest[0].ID == got[0].ID || rest[0].ID == got[1].ID {
		t.Fatalf("second lease = %+v", rest)
	}
	if none, _ := s.LeaseQueue(ctx, now, "node3", time.Minute, 10); len(none) != 0 {
		t.Fatalf("leased twice: %+v", none)
	}
	// A dead node's lease expires and another node takes the entry.
	again, _ := s.LeaseQueue(ctx, now.Add(2*time.Minute), "node3", time.Minute, 10)
	if len(again) != 3 {
		t.Fatalf("after expiry = %d entries", len(again))
	}
	_, err = s.RecordAttempt(ctx, again[0].ID, "node1", store.AttemptResult{At: now})
	wantErr(t, err, store.ErrLeaseLost, "record with an expired lease")
	// A restarted node3 releases what it held and can lease it again at once.
	if n, err := s.ReleaseLeases(ctx, "node3"); err != nil || n != 3 {
		t.Fatalf("ReleaseLeases = %d, %v", n, err)
	}
	if l, _ := s.LeaseQueue(ctx, now.Add(2*time.Minute), "node3", time.Minute, 10); len(l) != 3 {
		t.Fatalf("after release: %d entries", len(l))
	}
	if next, ok, _ := s.NextQueueAttempt(ctx); !ok || !next.Equal(now.Add(3*time.Minute)) {
		t.Fatalf("next attempt = %v %v (ids %v)", next, ok, ids)
	}
}

func testQueueAttempts(t *testing.T, e Env) {
	s := e.Store
	enqueue(t, e, "a.test", "a.test", "a.test")
	now := e.Clock.Now()
	l, _ := s.LeaseQueue(ctx, now, "n", time.Minute, 1)
	if len(l) != 1 || len(l[0].Rcpts) != 3 {
		t.Fatalf("lease = %+v", l)
	}
	en := l[0]
	next := now.Add(15 * time.Minute)
	pending, err := s.RecordAttempt(ctx, en.ID, "n", store.AttemptResult{At: now, NextAttempt: next, LastError: "450 try later",
		Rcpts: map[int64]store.RcptUpdate{
			en.Rcpts[0].ID: {Status: store.RcptDelivered, Code: 250},
			en.Rcpts[1].ID: {Status: store.RcptFailed, Code: 550, Error: "550 no such user"},
			en.Rcpts[2].ID: {Status: store.RcptPending, Code: 450, Error: "450 greylisted"},
		}})
	must(t, err)
	if pending != 1 {
		t.Fatalf("pending = %d", pending)
	}
	got, _ := s.QueueEntry(ctx, en.ID)
	if got.Attempts != 1 || !got.NextAttempt.Equal(next) || got.LastError != "450 try later" || got.LeaseOwner != "" ||
		got.Rcpts[1].Status != store.RcptFailed || got.Rcpts[1].LastCode != 550 || got.Rcpts[2].LastError != "450 greylisted" {
		t.Fatalf("entry = %+v", got)
	}
	if l, _ := s.LeaseQueue(ctx, now.Add(time.Minute), "n", time.Minute, 1); len(l) != 0 {
		t.Fatal("leased before its next attempt")
	}
	l, _ = s.LeaseQueue(ctx, next, "n", time.Minute, 1)
	pending, err = s.RecordAttempt(ctx, en.ID, "n", store.AttemptResult{At: next, DelayNotified: true,
		Rcpts: map[int64]store.RcptUpdate{en.Rcpts[2].ID: {Status: store.RcptDelivered, Code: 250}}})
	must(t, err)
	if pending != 0 {
		t.Fatalf("pending = %d", pending)
	}
	if _, err := s.QueueEntry(ctx, en.ID); err == nil {
		t.Fatal("finished entry still queued")
	}
	if _, ok, _ := s.NextQueueAttempt(ctx); ok {
		t.Fatal("empty queue has a next attempt")
	}
}

func testQueueAdmin(t *testing.T, e Env) {
	s := e.Store
	ids := enqueue(t, e, "a.test", "b.test")
	later := e.Clock.Now().Add(time.Hour)
	n, err := s.RetryQueue(ctx, 0, later)
	must(t, err)
	if n != 2 {
		t.Fatalf("retry all = %d", n)
	}
	if l, _ := s.LeaseQueue(ctx, e.Clock.Now(), "n", time.Minute, 5); len(l) != 0 {
		t.Fatal("entry due before retry time")
	}
	if _, err := s.RetryQueue(ctx, ids[0], e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.LeaseQueue(ctx, e.Clock.Now(), "n", time.Minute, 5); len(l) != 1 || l[0].ID != ids[0] {
		t.Fatalf("retry one: %+v", l)
	}
	_, err = s.RetryQueue(ctx, 999999, later)
	wantErr(t, err, store.ErrNotFound, "retry missing")
	// An administrator leases one entry, due or not; a held entry is refused.
	e1, err := s.LeaseEntry(ctx, ids[1], e.Clock.Now(), "admin", time.Minute)
	must(t, err)
	if e1.ID != ids[1] || len(e1.Rcpts) != 1 || e1.LeaseOwner != "admin" {
		t.Fatalf("LeaseEntry = %+v", e1)
	}
	_, err = s.LeaseEntry(ctx, ids[1], e.Clock.Now(), "node", time.Minute)
	wantErr(t, err, store.ErrLocked, "lease a held entry")
	_, err = s.LeaseEntry(ctx, 999999, e.Clock.Now(), "admin", time.Minute)
	wantErr(t, err, store.ErrNotFound, "lease a missing entry")
	must(t, s.DeleteQueue(ctx, ids[1]))
	wantErr(t, s.DeleteQueue(ctx, ids[1]), store.ErrNotFound, "delete twice")
	list, _ := s.QueueEntries(ctx, store.QueueFilter{Domain: "A.test"})
	if len(list) != 1 || list[0].Domain != "a.test" {
		t.Fatalf("filtered list = %+v", list)
	}
}

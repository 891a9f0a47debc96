package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

// Cluster behaviour: two stores ("nodes") on one PostgreSQL database.

// twoNodes opens two stores on a fresh database, sharing one fake clock.
func twoNodes(t *testing.T) (a, b *Store) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	fc := newFakeClock()
	return openPG(t, dsn, fc, Options{MaxConns: 8}), openPG(t, dsn, fc, Options{MaxConns: 8})
}

func mustT(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// terminate ends the server side of the connections named app ("kantorpos
// listen", "kantorpos locks") of the database of s, and waits until those
// sessions are gone (and their locks released).
func terminate(t *testing.T, s *Store, app string) int {
	t.Helper()
	var pids []int64
	rows, err := s.db.Query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, app)
	mustT(t, err)
	for rows.Next() {
		var pid int64
		mustT(t, rows.Scan(&pid))
		pids = append(pids, pid)
	}
	rows.Close()
	for _, pid := range pids {
		_, err := s.db.Exec(`SELECT pg_terminate_backend($1)`, pid)
		mustT(t, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left int
		mustT(t, s.db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&left))
		if left == 0 {
			return len(pids)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d terminated sessions still there", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClusterQueueLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := twoNodes(t)
	now := a.clock.Now()
	const entries = 300
	ref := storetest.PutBlob(t, a.Blobs(), storetest.Msg("out", "x"))
	var rcpts []store.OutRcpt
	for i := range entries {
		rcpts = append(rcpts, store.OutRcpt{Addr: fmt.Sprintf("r@d%03d.test", i)})
	}
	res, err := a.Deliver(ctx, &store.Delivery{Blob: ref, ReceivedAt: now, Remote: &store.Outbound{From: "s@example.test", Rcpts: rcpts}})
	mustT(t, err)
	if len(res.QueueIDs) != entries {
		t.Fatalf("%d queue entries", len(res.QueueIDs))
	}

	// Four workers on each node lease, "deliver" and record, until the
	// queue is empty. No entry may be leased by two workers.
	var mu sync.Mutex
	leasedBy := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := time.Now()
	for w := range 8 {
		node := a
		if w%2 == 1 {
			node = b
		}
		owner := fmt.Sprintf("node%d-worker%d", w%2, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := node.LeaseQueue(ctx, now, owner, time.Minute, 5)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				for _, e := range got {
					mu.Lock()
					prev, dup := leasedBy[e.ID]
					leasedBy[e.ID] = owner
					mu.Unlock()
					if dup {
						errs <- fmt.Errorf("entry %d leased by %s and %s", e.ID, prev, owner)
						return
					}
					up := map[int64]store.RcptUpdate{e.Rcpts[0].ID: {Status: store.RcptDelivered, Code: 250}}
					if _, err := node.RecordAttempt(ctx, e.ID, owner, store.AttemptResult{At: now, Rcpts: up}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	perNode := map[string]int{}
	for _, owner := range leasedBy {
		perNode[owner[:5]]++
	}
	t.Logf("%d entries leased and recorded by 2 nodes × 4 workers in %v (%.0f/s); per node %v",
		len(leasedBy), elapsed, float64(len(leasedBy))/elapsed.Seconds(), perNode)
	if len(leasedBy) != entries || perNode["node0"] == 0 || perNode["node1"] == 0 {
		t.Fatalf("leased %d of %d entries, per node %v", len(leasedBy), entries, perNode)
	}
	if left, _ := b.QueueEntries(ctx, store.QueueFilter{}); len(left) != 0 {
		t.Fatalf("%d entries left", len(left))
	}
	// Every queue reference was dropped: the blob row went with the last one.
	var n int
	mustT(t, a.db.QueryRow(`SELECT count(*) FROM blobs WHERE hash = $1`, ref.Hash).Scan(&n))
	if n != 0 {
		t.Fatal("blob row left after the last queue entry")
	}
}

// A node dies holding leases: another node takes its entries once the
// leases expire, and the dead node's late report is refused.
func TestClusterLeaseTakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := twoNodes(t)
	now := a.clock.Now()
	ref := storetest.PutBlob(t, a.Blobs(), storetest.Msg("out", "x"))
	_, err := a.Deliver(ctx, &store.Delivery{Blob: ref, ReceivedAt: now, Remote: &store.Outbound{From: "s@example.test",
		Rcpts: []store.OutRcpt{{Addr: "x@one.test"}, {Addr: "y@two.test"}, {Addr: "z@three.test"}}}})
	mustT(t, err)
	held, err := a.LeaseQueue(ctx, now, "nodeA", 5*time.Minute, 2)
	mustT(t, err)
	if len(held) != 2 {
		t.Fatalf("node A leased %d", len(held))
	}
	a.Close() // killed: its leases stay in the database until they expire
	got, err := b.LeaseQueue(ctx, now.Add(time.Minute), "nodeB", 5*time.Minute, 10)
	mustT(t, err)
	if len(got) != 1 {
		t.Fatalf("before expiry node B leased %d entries, want the 1 free one", len(got))
	}
	next, ok, err := b.NextQueueAttempt(ctx)
	mustT(t, err)
	if !ok || !next.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("next attempt = %v %v, want the lease expiry", next, ok)
	}
	got, err = b.LeaseQueue(ctx, now.Add(6*time.Minute), "nodeB", 5*time.Minute, 10)
	mustT(t, err)
	if len(got) != 2 || got[0].ID != held[0].ID || got[1].ID != held[1].ID {
		t.Fatalf("after expiry node B leased %+v, want %d and %d", got, held[0].ID, held[1].ID)
	}
	_, err = b.RecordAttempt(ctx, held[0].ID, "nodeA", store.AttemptResult{At: now})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("late report of the dead node: %v", err)
	}
	_, err = b.RecordAttempt(ctx, held[0].ID, "nodeB", store.AttemptResult{At: now,
		Rcpts: map[int64]store.RcptUpdate{got[0].Rcpts[0].ID: {Status: store.RcptDelivered, Code: 250}}})
	mustT(t, err)
}

// waitChange waits for a change on sub that matches.
func waitChange(t *testing.T, sub *store.Subscription, what string, match func(store.Change) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-sub.C:
			if match(c) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s within 10s", what)
		}
	}
}

func TestClusterChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := twoNodes(t)
	mustT(t, a.AddDomain(ctx, "example.test"))
	acc, err := a.CreateAccount(ctx, "u@example.test", "h")
	mustT(t, err)
	inbox, err := b.Mailbox(ctx, acc.ID, "INBOX")
	mustT(t, err)
	sub := b.Subscribe()
	defer sub.Close()

	// Mail accepted by node A is announced on node B.
	ap, err := a.Append(ctx, inbox.ID, store.NewMessage{Blob: storetest.PutBlob(t, a.Blobs(), storetest.Msg("hi", "x"))})
	mustT(t, err)
	var modseq uint64
	waitChange(t, sub, "MessagesChanged from node A", func(c store.Change) bool {
		modseq = c.ModSeq
		return c.Kind == store.MessagesChanged && c.MailboxID == inbox.ID && c.AccountID == acc.ID && c.ModSeq > inbox.HighestModSeq
	})
	ch, err := b.Changes(ctx, inbox.ID, inbox.HighestModSeq)
	mustT(t, err)
	if len(ch.Updated) != 1 || ch.Updated[0].UID != ap.UID || ch.HighestModSeq != modseq {
		t.Fatalf("changes seen by node B = %+v (notified modseq %d)", ch, modseq)
	}
	_, err = a.CreateMailbox(ctx, acc.ID, "Work", "")
	mustT(t, err)
	waitChange(t, sub, "MailboxesChanged", func(c store.Change) bool { return c.Kind == store.MailboxesChanged && c.AccountID == acc.ID })

	// Node B's own changes reach its subscribers once (at commit), not
	// again through the notification.
	subB := b.Subscribe()
	defer subB.Close()
	subA := a.Subscribe()
	defer subA.Close()
	_, err = b.UpdateFlags(ctx, inbox.ID, store.AllUIDs, store.FlagsAdd, []string{`\Seen`})
	mustT(t, err)
	waitChange(t, subB, "own flag change", func(c store.Change) bool { return c.Kind == store.MessagesChanged })
	waitChange(t, subA, "node B's flag change on node A", func(c store.Change) bool { return c.Kind == store.MessagesChanged })
	select {
	case c := <-subB.C:
		t.Fatalf("change delivered twice on its own node: %+v", c)
	default:
	}

	// A rolled-back transaction announces nothing: node A's failed
	// append (quota) must not reach node B.
	q := int64(1)
	mustT(t, a.UpdateAccount(ctx, acc.ID, store.AccountUpdate{QuotaBytes: &q}))
	if _, err := a.Append(ctx, inbox.ID, store.NewMessage{Blob: storetest.PutBlob(t, a.Blobs(), storetest.Msg("big", "x"))}); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("append over quota: %v", err)
	}

	// The listening connection dies: node B reconnects, tells its
	// subscribers to resync, and hears node A again.
	if n := terminate(t, a, "kantorpos listen"); n != 2 {
		t.Fatalf("terminated %d listening connections, want 2", n)
	}
	waitChange(t, sub, "Resync after reconnecting", func(c store.Change) bool { return c.Kind == store.Resync })
	var last store.Change
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Node B may still be reconnecting: keep announcing until heard.
		_, err = a.UpdateFlags(ctx, inbox.ID, store.AllUIDs, store.FlagsAdd, []string{fmt.Sprint("kw", time.Now().UnixNano())})
		mustT(t, err)
		select {
		case last = <-sub.C:
		case <-time.After(100 * time.Millisecond):
		}
		if last.Kind == store.MessagesChanged && last.MailboxID == inbox.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B deaf after reconnecting")
		}
	}
}

func TestClusterMaildropLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := twoNodes(t)
	mustT(t, a.AddDomain(ctx, "example.test"))
	acc, err := a.CreateAccount(ctx, "u@example.test", "h")
	mustT(t, err)
	other, err := a.CreateAccount(ctx, "v@example.test", "h")
	mustT(t, err)

	release, err := a.LockMaildrop(ctx, acc.ID)
	mustT(t, err)
	if _, err := b.LockMaildrop(ctx, acc.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("lock on node B while node A holds it: %v", err)
	}
	if _, err := a.LockMaildrop(ctx, acc.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second lock on node A: %v", err)
	}
	rOther, err := b.LockMaildrop(ctx, other.ID)
	mustT(t, err)
	rOther()

	// The lock connection of node A dies while it holds the lock: the
	// server releases it, node A takes it back on its next check.
	if n := terminate(t, a, "kantorpos locks"); n < 1 {
		t.Fatalf("terminated %d lock connections", n)
	}
	a.pg.locker.check(ctx)
	if _, err := b.LockMaildrop(ctx, acc.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("lock on node B after node A reconnected: %v", err)
	}

	release()
	release()
	rb, err := b.LockMaildrop(ctx, acc.ID)
	mustT(t, err)
	if _, err := a.LockMaildrop(ctx, acc.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("lock on node A while node B holds it: %v", err)
	}
	// A node that dies releases its locks with its connection (once the
	// server has ended that session).
	b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ra, err := a.LockMaildrop(ctx, acc.ID)
		if err == nil {
			ra()
			break
		}
		if !errors.Is(err, store.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("lock on node A after node B closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rb()
}

// UIDs stay unique and dense when two nodes deliver (and move) into the
// same mailboxes at once, and concurrent deliveries to the same recipients
// in different orders do not deadlock.
func TestClusterUIDAllocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := twoNodes(t)
	mustT(t, a.AddDomain(ctx, "example.test"))
	u, err := a.CreateAccount(ctx, "u@example.test", "h")
	mustT(t, err)
	v, err := a.CreateAccount(ctx, "v@example.test", "h")
	mustT(t, err)
	const perNode, moves = 40, 20
	archive, err := a.Mailbox(ctx, u.ID, "Archive")
	mustT(t, err)
	for i := range moves {
		_, err := b.Append(ctx, archive.ID, store.NewMessage{Blob: storetest.PutBlob(t, b.Blobs(), storetest.Msg(fmt.Sprint("a", i), "x"))})
		mustT(t, err)
	}
	type got struct {
		acc int64
		uid uint32
	}
	results := make(chan got, 4*perNode+moves)
	errs := make(chan error, 2*perNode+moves)
	var wg sync.WaitGroup
	uInbox, err := a.Mailbox(ctx, u.ID, "INBOX")
	mustT(t, err)
	for i := range moves {
		node := []*Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			pairs, err := node.Move(ctx, archive.ID, store.UIDSet{{Start: uint32(i + 1), Stop: uint32(i + 1)}}, uInbox.ID)
			if err != nil || len(pairs) != 1 {
				errs <- fmt.Errorf("move %d: %v, %v", i+1, pairs, err)
				return
			}
			results <- got{u.ID, pairs[0].Dst}
		}()
	}
	for i := range 2 * perNode {
		node, local := a, []store.LocalDelivery{{AccountID: u.ID}, {AccountID: v.ID}}
		if i%2 == 1 {
			node, local = b, []store.LocalDelivery{{AccountID: v.ID}, {AccountID: u.ID}}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := storetest.PutBlob(t, node.Blobs(), storetest.Msg(fmt.Sprint("m", i), "x"))
			res, err := node.Deliver(ctx, &store.Delivery{Blob: ref, Local: local})
			if err != nil {
				errs <- err
				return
			}
			for _, l := range res.Local {
				results <- got{l.AccountID, l.UID}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Fatal(err)
	}
	uids := map[int64][]uint32{}
	for r := range results {
		uids[r.acc] = append(uids[r.acc], r.uid)
	}
	for acc, want := range map[int64]int{u.ID: 2*perNode + moves, v.ID: 2 * perNode} {
		list := uids[acc]
		sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
		for i, uid := range list {
			if uid != uint32(i+1) || len(list) != want {
				t.Fatalf("account %d: UIDs %v: want 1..%d, each once", acc, list, want)
			}
		}
		inbox, _ := b.Mailbox(ctx, acc, "INBOX")
		states, err := b.MessageStates(ctx, inbox.ID)
		mustT(t, err)
		if len(states) != want || inbox.UIDNext != uint32(want+1) {
			t.Fatalf("account %d: %d messages, UIDNEXT %d", acc, len(states), inbox.UIDNext)
		}
	}
}

// Nodes starting at once on an empty database migrate it once, one after
// the other (advisory lock), and all start.
func TestClusterConcurrentStart(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	fc := newFakeClock()
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), Options{Driver: "postgres", DSN: dsn, Clock: fc, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
			continue
		}
		s.Close()
	}
}

// Changes to one mailbox from two nodes happen one after the other: a
// message moved by one node and expunged by the other at the same moment
// ends up in exactly one place, and MOVE reports only what it moved.
func TestClusterMoveVersusExpunge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := twoNodes(t)
	mustT(t, a.AddDomain(ctx, "example.test"))
	u, err := a.CreateAccount(ctx, "u@example.test", "h")
	mustT(t, err)
	src, _ := a.Mailbox(ctx, u.ID, "INBOX")
	dst, _ := a.Mailbox(ctx, u.ID, "Archive")
	const n = 30
	for i := range n {
		_, err := a.Append(ctx, src.ID, store.NewMessage{Blob: storetest.PutBlob(t, a.Blobs(), storetest.Msg(fmt.Sprint("m", i), "x")),
			Flags: []string{store.FlagDeleted}})
		mustT(t, err)
	}
	var wg sync.WaitGroup
	moved := make(chan store.UIDPair, n)
	expunged := make(chan uint32, n)
	errs := make(chan error, 2*n)
	for uid := uint32(1); uid <= n; uid++ {
		set := store.UIDSet{{Start: uid, Stop: uid}}
		wg.Add(2)
		go func() {
			defer wg.Done()
			pairs, err := a.Move(ctx, src.ID, set, dst.ID)
			if err != nil {
				errs <- err
			}
			for _, p := range pairs {
				moved <- p
			}
		}()
		go func() {
			defer wg.Done()
			uids, err := b.Expunge(ctx, src.ID, set)
			if err != nil {
				errs <- err
			}
			for _, u := range uids {
				expunged <- u
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(moved)
	close(expunged)
	for err := range errs {
		t.Fatal(err)
	}
	gone := map[uint32]bool{}
	for u := range expunged {
		gone[u] = true
	}
	states, err := b.MessageStates(ctx, dst.ID)
	mustT(t, err)
	inDst := map[uint32]bool{}
	for _, s := range states {
		inDst[s.UID] = true
	}
	count := 0
	for p := range moved {
		count++
		if gone[p.Src] {
			t.Errorf("UID %d both moved (to %d) and expunged", p.Src, p.Dst)
		}
		if !inDst[p.Dst] {
			t.Errorf("MOVE reported %d → %d, but the destination has no UID %d", p.Src, p.Dst, p.Dst)
		}
	}
	if count+len(gone) != n || len(states) != count {
		t.Fatalf("%d moved + %d expunged, want %d; destination holds %d", count, len(gone), n, len(states))
	}
	acc, _ := b.AccountByID(ctx, u.ID)
	st, _ := b.MailboxStatus(ctx, dst.ID)
	if acc.UsedBytes != st.Size {
		t.Fatalf("used bytes %d, destination size %d", acc.UsedBytes, st.Size)
	}
}

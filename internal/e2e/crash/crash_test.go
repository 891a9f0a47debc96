// Package crash tests the durability promise of DESIGN.md against the real
// binary: "250" after DATA, "OK" after APPEND and "+OK" after QUIT mean the
// change is on disk, and a crash at any moment loses nothing acknowledged
// and leaves no half message. Long: it runs with KANTORPOS_CRASH=1
// (.ci/run sets it).
package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/e2e/binary"
)

// accounts checked over IMAP (they never lose messages); "pop" is emptied
// by the POP3 worker.
var imapAccounts = []string{"mx1", "mx2", "ap"}

func TestCrash(t *testing.T) {
	binary.Gated(t, "KANTORPOS_CRASH")
	cycles := 27
	if n, err := strconv.Atoi(os.Getenv("KANTORPOS_CRASH_CYCLES")); err == nil && n > 0 {
		cycles = n
	}
	l := &load{led: newLedger()}
	sk := startSink(t, l)
	_, sinkPort, _ := net.SplitHostPort(sk.addr)
	srv := binary.New(t, binary.Options{
		Queue: `retry_interval = "1s"`,
		Extra: fmt.Sprintf("[[relay.routes]]\ndomain = \"sink.test\"\nhost = \"127.0.0.1\"\nport = %s\nmode = \"plain\"\n", sinkPort),
	})
	srv.Admin("", "domain", "add", "crash.test")
	for _, u := range []string{"mx1", "mx2", "ap", "pop", "sender"} {
		srv.Admin(password+"\n", "user", "add", u+"@crash.test", "-password-stdin")
	}
	l.ctl = newController(t, srv)
	l.addr = srv.Addr
	l.ctl.start()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	work := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	for i, where := range []string{"mx1", "mx1", "mx2", "mx2", "pop"} {
		work(func() { l.smtpWorker(ctx, fmt.Sprintf("mx%d", i), where) })
	}
	for i := range 2 {
		work(func() { l.smtpWorker(ctx, fmt.Sprintf("sub%d", i), "sink") })
		work(func() { l.appendWorker(ctx, fmt.Sprintf("ap%d", i)) })
	}
	work(func() { l.pop3Worker(ctx) })

	start := time.Now()
	var invariant []string
	prev := map[string]*snapshot{}
	for cycle := range cycles {
		// Let the load run, then record what IMAP shows before the kill.
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		for _, u := range imapAccounts {
			s, err := takeSnapshot(srv.Addr["imap"], u+"@crash.test")
			if err != nil {
				t.Fatalf("cycle %d: IMAP snapshot of %s: %v\n%s", cycle, u, err, srv.Log())
			}
			if p := prev[u]; p != nil {
				invariant = append(invariant, compare(u, p, s)...)
			}
			prev[u] = s
		}
		phase := phases[cycle%len(phases)]
		fired := l.ctl.arm(phase)
		if phase == "random" {
			time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
			l.ctl.kill("random")
		} else {
			select {
			case <-fired:
			case <-time.After(3 * time.Second):
				l.ctl.kill("timeout:" + phase) // not reached in time: a random kill
			}
		}
		if !l.ctl.srv.Running() {
			l.ctl.start()
		}
	}
	// One more snapshot after the last restart.
	for _, u := range imapAccounts {
		s, err := takeSnapshot(srv.Addr["imap"], u+"@crash.test")
		if err != nil {
			t.Fatalf("IMAP snapshot of %s: %v", u, err)
		}
		invariant = append(invariant, compare(u, prev[u], s)...)
	}
	cancel()
	wg.Wait()
	t.Logf("%d kills in %v:%s", cycles, time.Since(start).Round(time.Millisecond), l.ctl.killSummary())
	for _, e := range invariant {
		t.Error(e)
	}
	for _, e := range l.ctl.unexpected {
		t.Errorf("unexpected failure: %s", e)
	}
	for _, p := range phases {
		if p != "random" && l.ctl.kills[p] == 0 {
			t.Errorf("no kill landed at %s", p)
		}
	}
	verifyAll(t, srv, l.led)
}

// verifyAll checks, after the last restart, that every acknowledged
// message is there, whole.
func verifyAll(t *testing.T, srv *binary.Server, led *ledger) {
	// Outbound: the queue delivers everything it acknowledged to the sink.
	var missing []string
	testutilWait(t, 90*time.Second, "the queue delivers every acknowledged submission", func() bool {
		led.mu.Lock()
		defer led.mu.Unlock()
		missing = missing[:0]
		for seq, where := range led.acked {
			if where == "sink" && led.sink[seq] == 0 {
				missing = append(missing, seq)
			}
		}
		return len(missing) == 0
	}, func() string {
		return fmt.Sprintf("%d missing, e.g. %v\n%s", len(missing), first(missing, 5), srv.Log())
	})
	// Local accounts: every message whole, every acknowledged one there.
	present := map[string]int{}
	apUIDs := map[uint32]string{}
	for _, u := range append(imapAccounts, "pop") {
		msgs, err := fetchAll(srv.Addr["imap"], u+"@crash.test")
		if err != nil {
			t.Fatalf("fetch %s: %v", u, err)
		}
		for uid, m := range msgs {
			seq, err := checkStored(m)
			if err != nil {
				t.Errorf("%s UID %d: %v", u, uid, err)
				continue
			}
			present[seq]++
			if u == "ap" {
				apUIDs[uid] = seq
			}
		}
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	type stat struct{ acked, dups int }
	stats := map[string]*stat{}
	for seq, where := range led.acked {
		st := stats[where]
		if st == nil {
			st = &stat{}
			stats[where] = st
		}
		st.acked++
		n := present[seq]
		if where == "sink" {
			n = led.sink[seq]
		}
		if n > 1 {
			st.dups += n - 1
		}
		switch where {
		case "sink":
		case "pop":
			if n == 0 && !led.popSeen[seq] {
				t.Errorf("lost: %s acknowledged for pop@ was never seen by POP3 and is not in the INBOX", seq)
			}
		default:
			if n == 0 {
				t.Errorf("lost: %s acknowledged for %s@ is not in the INBOX", seq, where)
			}
		}
	}
	// An APPEND that got OK [APPENDUID] is there under that UID.
	for uid, seq := range led.appendUID {
		if got := apUIDs[uid]; got != seq {
			t.Errorf("APPENDUID %d was given to %s; UID %d is now %q", uid, seq, uid, got)
		}
	}
	for _, b := range led.bad {
		t.Error(b)
	}
	var ws []string
	for w := range stats {
		ws = append(ws, w)
	}
	sort.Strings(ws)
	for _, w := range ws {
		t.Logf("%-6s acknowledged %5d, duplicates %d", w, stats[w].acked, stats[w].dups)
	}
	t.Logf("POP3: %d messages deleted by acknowledged QUITs", len(led.popGone))
	// A clean stop, then the store's own check.
	srv.Stop()
	out, err := srv.AdminErr("", "verify")
	if err != nil {
		t.Errorf("kantorpos verify after the crashes: %v\n%s", err, out)
	} else {
		t.Logf("kantorpos verify: %s", strings.TrimSpace(out))
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// testutilWait polls cond until it is true or the deadline passes; then
// the test fails with what and detail().
func testutilWait(t *testing.T, d time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting until %s: %s", d, what, detail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

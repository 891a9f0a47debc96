package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// waiters is how many attempts from ip's network wait for others in flight.
func waiters(l *Limiter, ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.nets[clientaddr.Prefix(ip)]; n != nil {
		return n.waiting
	}
	return 0
}

// testLimits: 2 free failures, then 1 s doubling to 4 s, refused after 6
// within a minute.
var testLimits = LimiterConfig{FreeFailures: 2, BaseDelay: time.Second, MaxDelay: 4 * time.Second, MaxFailures: 6, Window: time.Minute}

// TestLimiter runs sequences of logins, one at a time, against a fresh
// limiter and checks the delay or refusal of each attempt.
func TestLimiter(t *testing.T) {
	t.Parallel()
	const (
		a     = "192.0.2.1"
		other = "192.0.2.2"
		v6a   = "2001:db8::1"
		v6b   = "2001:db8::2"     // same /64 as v6a
		v6c   = "2001:db8:0:1::1" // next /64
		alice = "alice@example.test"
		bob   = "bob@example.test"
	)
	type step struct {
		ip, account string
		ok          bool          // the login succeeds (else it fails)
		delay       time.Duration // expected delay
		refused     bool          // expected refusal (nothing is counted)
		advance     time.Duration // clock advance before the attempt
	}
	fail := func(ip, acct string, d time.Duration) step { return step{ip: ip, account: acct, delay: d} }
	good := func(ip, acct string, d time.Duration) step { return step{ip: ip, account: acct, ok: true, delay: d} }
	refused := func(ip, acct string) step { return step{ip: ip, account: acct, refused: true} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"free, then doubling to the cap, then refused", []step{
			fail(a, alice, 0), fail(a, alice, 0), fail(a, alice, time.Second), fail(a, alice, 2*time.Second),
			fail(a, alice, 4*time.Second), fail(a, alice, 4*time.Second), refused(a, alice), refused(a, bob),
		}},
		{"refused even with the right password, not on another network", []step{
			fail(a, alice, 0), fail(a, bob, 0), fail(a, "x", time.Second), fail(a, "y", 2*time.Second),
			fail(a, "z", 4*time.Second), fail(a, alice, 4*time.Second),
			{ip: a, account: alice, ok: true, refused: true}, good(other, alice, 0),
		}},
		{"the window passes", []step{
			fail(a, alice, 0), fail(a, alice, 0), fail(a, alice, time.Second), fail(a, alice, 2*time.Second),
			fail(a, alice, 4*time.Second), fail(a, alice, 4*time.Second), refused(a, alice),
			{ip: a, account: alice, advance: 61 * time.Second}, // a failure, free again
			fail(a, alice, 0), fail(a, alice, time.Second),
		}},
		{"a success as bob keeps alice's failures (issue 19 2a)", []step{
			fail(a, alice, 0), fail(a, alice, 0), good(a, bob, time.Second),
			fail(a, alice, time.Second), fail(a, alice, 2*time.Second), good(a, bob, 4*time.Second),
			fail(a, alice, 4*time.Second), fail(a, alice, 4*time.Second), refused(a, bob), refused(a, alice),
		}},
		{"a success clears that account's failures from that network", []step{
			fail(a, alice, 0), fail(a, bob, 0), fail(a, alice, time.Second),
			good(a, "ALICE@example.test", 2*time.Second), // login names are case-insensitive
			fail(a, bob, 0), fail(a, bob, time.Second),
		}},
		{"a success elsewhere clears nothing here", []step{
			fail(a, alice, 0), fail(a, alice, 0), good(other, alice, 0), fail(a, alice, time.Second),
		}},
		{"IPv6 counts per /64", []step{
			fail(v6a, alice, 0), fail(v6b, alice, 0), fail(v6a, bob, time.Second), fail(v6c, alice, 0),
			good(v6b, alice, 2*time.Second), fail(v6a, alice, 0), fail(v6a, alice, time.Second),
		}},
		{"IPv4-mapped IPv6 is the IPv4 address", []step{
			fail(a, alice, 0), fail("::ffff:"+a, alice, 0), fail(a, alice, time.Second),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1e9, 0))
			l := NewLimiter(testLimits, clk)
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				at, d, err := l.Reserve(context.Background(), netip.MustParseAddr(st.ip), st.account)
				if st.refused {
					if !errors.Is(err, ErrTooManyFailures) {
						t.Fatalf("step %d (%s %s): %v, %v; want refused", i, st.ip, st.account, d, err)
					}
					continue
				}
				if err != nil || d != st.delay {
					t.Fatalf("step %d (%s %s): %v, %v; want delay %v", i, st.ip, st.account, d, err, st.delay)
				}
				if st.ok {
					at.Succeeded()
				} else {
					at.Failed()
				}
			}
		})
	}
}

// TestLimiterParallel: attempts reserved at once count before their result
// (issue 19 2b). 50 parallel wrong logins reserve at most MaxFailures
// attempts; the rest are refused.
func TestLimiterParallel(t *testing.T) {
	t.Parallel()
	l := NewLimiter(testLimits, clock.NewFake(time.Unix(1e9, 0)))
	ip := netip.MustParseAddr("192.0.2.9")
	var (
		mu             sync.Mutex
		reserved, refd int
		delays         []time.Duration
		wg             sync.WaitGroup
		start          = make(chan struct{})
	)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			at, d, err := l.Reserve(context.Background(), ip, fmt.Sprintf("user%d@example.test", i%3))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refd++
				return
			}
			reserved++
			delays = append(delays, d)
			at.Failed()
		}()
	}
	close(start)
	wg.Wait()
	if reserved != testLimits.MaxFailures || refd != 50-testLimits.MaxFailures {
		t.Fatalf("%d reserved, %d refused; want %d and %d", reserved, refd, testLimits.MaxFailures, 50-testLimits.MaxFailures)
	}
	free := 0
	for _, d := range delays {
		if d == 0 {
			free++
		}
	}
	if free != testLimits.FreeFailures {
		t.Errorf("%d attempts without delay (%v), want %d", free, delays, testLimits.FreeFailures)
	}
}

// TestLimiterInFlight: an attempt over the free budget only because of
// attempts in flight waits for them; their success lets it go undelayed,
// their failure delays it; the wait ends with its context; Abandon counts
// nothing.
func TestLimiterInFlight(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("192.0.2.10")
	reserve := func(l *Limiter, ctx context.Context) <-chan error {
		ch := make(chan error, 1)
		go func() {
			at, d, err := l.Reserve(ctx, ip, "alice@example.test")
			if err == nil && d != 0 {
				err = fmt.Errorf("delay %v", d)
			}
			if at != nil {
				at.Abandon()
			}
			ch <- err
		}()
		return ch
	}
	for _, end := range []string{"succeeded", "abandoned", "failed"} {
		t.Run(end, func(t *testing.T) {
			l := NewLimiter(testLimits, clock.NewFake(time.Unix(1e9, 0)))
			first, _, _ := l.Reserve(context.Background(), ip, "alice@example.test")
			second, _, _ := l.Reserve(context.Background(), ip, "alice@example.test")
			third := reserve(l, context.Background())
			testutil.WaitFor(t, 10*time.Second, "the third attempt waits", func() bool { return waiters(l, ip) == 1 })
			switch end {
			case "succeeded":
				first.Succeeded()
			case "abandoned":
				first.Abandon()
			case "failed":
				first.Failed()
				// 1 failure + 1 in flight: still waiting for the second.
				testutil.WaitFor(t, 10*time.Second, "the third attempt waits on", func() bool { return waiters(l, ip) == 1 })
				second.Failed()
			}
			err := <-third
			if end == "failed" {
				if err == nil || err.Error() != "delay 1s" {
					t.Fatalf("after two failures: %v, want a delay of 1s", err)
				}
				return
			}
			second.Abandon()
			if err != nil {
				t.Fatalf("third attempt after the first %s: %v", end, err)
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		l := NewLimiter(testLimits, nil)
		a1, _, _ := l.Reserve(context.Background(), ip, "a")
		a2, _, _ := l.Reserve(context.Background(), ip, "a")
		ctx, cancel := context.WithCancel(context.Background())
		ch := reserve(l, ctx)
		testutil.WaitFor(t, 10*time.Second, "the third attempt waits", func() bool { return waiters(l, ip) == 1 })
		cancel()
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		a1.Abandon()
		a2.Abandon()
		if n := l.Len(); n != 0 {
			t.Errorf("%d records after abandoned attempts, want 0", n)
		}
	})
}

// TestLimiterMemory: the records stay under MaxRecords whatever the
// number of networks and login names, the freshest are kept, and a
// network keeps at most maxAccountsPerNet account records.
func TestLimiterMemory(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1e9, 0))
	cfg := testLimits
	cfg.MaxRecords = 100
	l := NewLimiter(cfg, clk)
	fail := func(ip netip.Addr, acct string) {
		t.Helper()
		at, _, err := l.Reserve(context.Background(), ip, acct)
		if err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		at.Failed()
	}
	for i := range 5000 {
		clk.Advance(time.Millisecond)
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		fail(ip, fmt.Sprintf("u%d@example.test", i))
		fail(ip, fmt.Sprintf("v%d@example.test", i))
		if n := l.Len(); n > cfg.MaxRecords {
			t.Fatalf("after %d networks: %d records, max %d", i+1, n, cfg.MaxRecords)
		}
	}
	// The latest network still has its two failures (the next attempt is delayed).
	at, d, _ := l.Reserve(context.Background(), netip.AddrFrom4([4]byte{10, 0, 19, 135}), "x")
	if d == 0 {
		t.Error("the most recent network was evicted")
	}
	at.Abandon()
	big := NewLimiter(LimiterConfig{FreeFailures: 1000, MaxFailures: 1000}, clk)
	ip := netip.MustParseAddr("192.0.2.11")
	for i := range 100 {
		at, _, _ := big.Reserve(context.Background(), ip, fmt.Sprint(i))
		at.Failed()
	}
	if n := big.Len(); n != 1+maxAccountsPerNet {
		t.Errorf("one network, 100 names: %d records, want %d", n, 1+maxAccountsPerNet)
	}
	// Expired windows are dropped when the limiter is full.
	clk.Advance(2 * time.Minute)
	for i := range 10 {
		fail(netip.AddrFrom4([4]byte{172, 16, 0, byte(i)}), "late")
	}
	if n := l.Len(); n != 20 {
		t.Errorf("after the window: %d records, want the 20 new ones", n)
	}
}

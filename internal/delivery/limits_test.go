package delivery

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConnectionLimits runs many deliveries at once and counts, at the
// receiver, how many connections are open at the same time. Each DATA
// waits until the limit is reached (or 20 s pass), so the count reaches the
// limit if the Transport allows it and exceeds it if the limit leaks.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	const n = 8
	tests := []struct {
		name     string
		perHost  int
		total    int
		distinct bool // a different MX host per domain
		want     int
	}{
		{name: "per host", perHost: 2, total: 100, want: 2},
		{name: "in total, across hosts", perHost: 10, total: 3, distinct: true, want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var records []string
			for i := range n {
				mx := "mx.b.test."
				if tc.distinct {
					mx = fmt.Sprintf("mx%d.b.test.", i)
				}
				records = append(records, fmt.Sprintf("d%d.test. MX 10 %s", i, mx), mx+" A 127.0.0.1")
			}
			rc := recvConfig{onData: func(r *receiver) {
				holdUntil(context.Background(), 20*time.Second, func() bool { return r.openConns() >= tc.want })
			}}
			f := setup(t, rc, records, func(c *Config) {
				c.MaxConnsPerHost, c.MaxConnsTotal = tc.perHost, tc.total
			})
			var wg sync.WaitGroup
			results := make([][]RcptResult, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = f.tr.Deliver(context.Background(), newMsg(simpleBody, fmt.Sprintf("u%d@d%d.test", i, i)))
				}()
			}
			wg.Wait()
			for i, res := range results {
				if res[0].Status != Delivered {
					t.Errorf("message %d: %v %d %s (err %v)", i, res[0].Status, res[0].Code, res[0].Message, res[0].Err)
				}
			}
			if _, maxOpen := f.rcv.stats(); maxOpen != tc.want {
				t.Errorf("at most %d connections were open at once, want %d", maxOpen, tc.want)
			}
			if got := len(f.rcv.messages()); got != n {
				t.Errorf("receiver got %d messages, want %d", got, n)
			}
		})
	}
}

// TestPool checks that connections are reused (after RSET), closed when
// idle, capped in messages, and not kept when pooling is off.
func TestPool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		pool  PoolConfig
		conns int // connections for 3 messages
		rsets int
	}{
		{name: "reused", pool: PoolConfig{}, conns: 1, rsets: 2},
		{name: "disabled", pool: PoolConfig{Disable: true}, conns: 3},
		{name: "max messages", pool: PoolConfig{MaxMessages: 2}, conns: 2, rsets: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, recvConfig{startTLS: true}, mxRecords, func(c *Config) { c.Pool = tc.pool })
			for i := range 3 {
				if r := deliver(t, f.tr, newMsg(simpleBody, fmt.Sprintf("u%d@b.test", i)))[0]; r.Status != Delivered {
					t.Fatalf("message %d: %v %d %s", i, r.Status, r.Code, r.Message)
				}
			}
			if acc, _ := f.rcv.stats(); acc != tc.conns {
				t.Errorf("%d connections, want %d", acc, tc.conns)
			}
			if got := len(f.rcv.messages()); got != 3 {
				t.Errorf("receiver got %d messages", got)
			}
			for _, m := range f.rcv.messages() {
				if !m.tls {
					t.Error("a reused connection lost TLS")
				}
			}
			_ = tc.rsets // RSET travels inside TLS here; counted in TestPoolIdleTimeout
		})
	}
}

func TestPoolIdleTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t, recvConfig{}, mxRecords, func(c *Config) { c.Pool.IdleTimeout = 50 * time.Millisecond })
	for i := range 2 {
		if r := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test"))[0]; r.Status != Delivered {
			t.Fatalf("message %d: %v %d %s", i, r.Status, r.Code, r.Message)
		}
	}
	if got := bytes.Count(f.rcv.rawAll(), []byte("RSET\r\n")); got != 1 {
		t.Errorf("%d RSETs, want 1 (before the reused connection's second message)", got)
	}
	// The idle connection is closed with QUIT after the timeout.
	waitFor(t, "the idle connection to close", func() bool { return f.rcv.openConns() == 0 })
	if !bytes.HasSuffix(f.rcv.rawAll(), []byte("QUIT\r\n")) {
		t.Errorf("no QUIT before closing:\n%s", f.rcv.rawAll())
	}
	if acc, _ := f.rcv.stats(); acc != 1 {
		t.Errorf("%d connections, want 1", acc)
	}
	// A stale pooled connection (closed by the server) is replaced.
	if r := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test"))[0]; r.Status != Delivered {
		t.Fatalf("after idle close: %v %d %s", r.Status, r.Code, r.Message)
	}
}

// TestCancel: a cancelled context ends the attempt promptly, as TempFail,
// even while the server sits on the DATA.
func TestCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := setup(t, recvConfig{onData: func(*receiver) { <-release }}, mxRecords, nil)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := f.tr.Deliver(ctx, newMsg(simpleBody, "bob@b.test"))[0]
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Deliver took %v after cancel", d)
	}
	if r.Status != TempFail {
		t.Errorf("got %v %d %s", r.Status, r.Code, r.Message)
	}
	// Waiting for a connection slot is cancelled too.
	f2 := setup(t, recvConfig{onData: func(*receiver) { <-release }}, mxRecords, func(c *Config) { c.MaxConnsPerHost = 1 })
	go f2.tr.Deliver(context.Background(), newMsg(simpleBody, "bob@b.test"))
	waitFor(t, "the first connection", func() bool { return f2.rcv.openConns() == 1 })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if r := f2.tr.Deliver(ctx2, newMsg(simpleBody, "carol@b.test"))[0]; r.Status != TempFail {
		t.Errorf("waiting for a slot: got %v %d %s", r.Status, r.Code, r.Message)
	}
}

func TestDeliverAfterClose(t *testing.T) {
	t.Parallel()
	f := setup(t, recvConfig{}, mxRecords, nil)
	f.tr.Close()
	if r := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test"))[0]; r.Status != TempFail {
		t.Errorf("got %v %d %s", r.Status, r.Code, r.Message)
	}
}

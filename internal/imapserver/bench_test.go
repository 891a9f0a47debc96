package imapserver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// fill appends n messages to INBOX, concurrently so that the store's group
// commit batches them; every 100th mentions "zebra". pad adds that many
// bytes of Received: header fields to each, as real mail has.
func (e *env) fill(b testing.TB, n int, pad ...int) {
	var extra string
	if len(pad) > 0 {
		for len(extra) < pad[0] {
			extra += "Received: from relay.ext.test (relay.ext.test [192.0.2.1]) by mx.example.test with ESMTPS id 4Xyz; Tue, 3 Mar 2026 10:00:00 +0000\r\n"
		}
	}
	ctx := context.Background()
	inbox := e.mailbox(b, "INBOX").ID
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				word := "horse"
				if i%100 == 0 {
					word = "zebra"
				}
				ref, meta := e.putBlob(b, extra+testMsg(fmt.Sprintf("message %d", i), "a body about a "+word+" and more text"))
				if _, err := e.store.Append(ctx, inbox, store.NewMessage{Blob: ref, Meta: meta}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// readUntilTagged reads a command's response and counts untagged lines.
func (r *raw) readUntilTagged(tag string) int {
	n := 0
	for {
		l, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatal(err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				r.t.Fatal(l)
			}
			return n
		}
		n++
	}
}

// FETCH 1:* (ENVELOPE FLAGS) over a 10,000-message mailbox, from cached
// metadata.
func BenchmarkFetchEnvelope10k(b *testing.B) {
	e := newEnv(b)
	e.fill(b, 10000)
	r := e.rawTLS(b).login()
	r.ok("SELECT INBOX")
	r.conn.SetDeadline(time.Time{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.write("f FETCH 1:* (ENVELOPE FLAGS)\r\n")
		if n := r.readUntilTagged("f"); n != 10000 {
			b.Fatalf("%d responses", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/msg")
}

// The same with 4 KiB of trace header fields per message.
func BenchmarkFetchEnvelope10kLongHeaders(b *testing.B) {
	e := newEnv(b)
	e.fill(b, 10000, 4096)
	r := e.rawTLS(b).login()
	r.ok("SELECT INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.write("f FETCH 1:* (ENVELOPE FLAGS)\r\n")
		if n := r.readUntilTagged("f"); n != 10000 {
			b.Fatalf("%d responses", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/msg")
}

// UID SEARCH TEXT over a 10,000-message mailbox (full-text index).
func BenchmarkSearchText10k(b *testing.B) {
	e := newEnv(b)
	e.fill(b, 10000)
	r := e.rawTLS(b).login()
	r.ok("SELECT INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := r.ok("UID SEARCH TEXT zebra")
		if got := len(strings.Fields(u[0])) - 2; got != 100 {
			b.Fatalf("%d hits", got)
		}
	}
}

// Delivery through the store to EXISTS in an IDLE session. ns/op counts
// from the start of the delivery (blob write and fsynced commit included);
// notify-µs counts from the moment the committed delivery returned.
func BenchmarkIdleLatency(b *testing.B) {
	e := newEnv(b)
	r := e.rawTLS(b).login()
	r.ok("SELECT INBOX")
	r.write("i IDLE\r\n")
	r.line()
	content := testMsg("idle", "x")
	b.ResetTimer()
	var worst, worstNotify, notify time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		e.deliver(b, "", content)
		committed := time.Now()
		r.expectUntagged(" EXISTS", 10*time.Second)
		worst = max(worst, time.Since(start))
		worstNotify = max(worstNotify, time.Since(committed))
		notify += time.Since(committed)
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
	b.ReportMetric(float64(notify.Microseconds())/float64(b.N), "notify-µs")
	b.ReportMetric(float64(worstNotify.Microseconds()), "worst-notify-µs")
}

// SELECT of a 10,000-message mailbox that no session has open (the
// mailbox's state is loaded from the store each time), then UNSELECT.
func BenchmarkSelect10k(b *testing.B) {
	e := newEnv(b)
	e.fill(b, 10000)
	r := e.rawTLS(b).login()
	r.conn.SetDeadline(time.Time{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if u := r.ok("SELECT INBOX"); !strings.Contains(strings.Join(u, ""), "10000 EXISTS") {
			b.Fatalf("SELECT: %q", u)
		}
		r.ok("UNSELECT")
	}
}

// FETCH 1:* BODY.PEEK[HEADER] and BODY.PEEK[] over 10,000 messages: these
// open every message in the blob store.
func BenchmarkFetchSections10k(b *testing.B) {
	e := newEnv(b)
	e.fill(b, 10000)
	r := e.rawTLS(b).login()
	r.ok("SELECT INBOX")
	r.conn.SetDeadline(time.Time{})
	for _, item := range []string{"BODY.PEEK[HEADER]", "BODY.PEEK[]"} {
		b.Run(item, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r.write("f FETCH 1:* " + item + "\r\n")
				if n := r.readUntilTagged("f"); n < 10000 {
					b.Fatalf("%d response lines", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/msg")
		})
	}
}

// BenchmarkSmallCommands: a client that works in a mailbox nobody else
// changes (UID FETCH FLAGS of one message, then NOOP), the commands mail
// clients send most; per op, two commands.
func BenchmarkSmallCommands(b *testing.B) {
	e := newEnv(b)
	e.fill(b, 100)
	r := e.rawTLS(b).login()
	r.ok("SELECT INBOX")
	r.conn.SetDeadline(time.Time{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.ok("UID FETCH " + itoa(i%100+1) + " (FLAGS)")
		r.ok("NOOP")
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// SMTPOptions configure the SMTP workload.
type SMTPOptions struct {
	Addr     string // target, loopback only
	Sessions int    // parallel sessions (lanes)
	Messages int    // total messages
	Size     int    // bytes per message, header included
	// Reuse keeps each session's connection open between messages;
	// otherwise every message gets a new connection (smtp-source's default).
	Reuse bool
	// Users spreads the recipients over RcptFormat(1..Users) like
	// bench/smtp-bench.sh: user u is served by lane (u-1) % Sessions, and
	// every user gets Messages/Users messages.
	Users      int
	RcptFormat string // "bench%d@example.test"
	From       string
	Helo       string
	Timeout    time.Duration // per reply
	// MaxErrors stops the run after that many failed messages (default 10).
	MaxErrors int
}

func (o *SMTPOptions) defaults() {
	if o.Sessions <= 0 {
		o.Sessions = 10
	}
	if o.Messages <= 0 {
		o.Messages = 1000
	}
	if o.Size <= 0 {
		o.Size = 5120
	}
	if o.Users <= 0 {
		o.Users = 50
	}
	if o.RcptFormat == "" {
		o.RcptFormat = "bench%d@example.test"
	}
	if o.From == "" {
		o.From = "loadgen@example.test"
	}
	if o.Helo == "" {
		o.Helo = "loadgen.example.test"
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = 10
	}
}

// lanes returns, for each lane, the recipients of its messages in order.
func (o *SMTPOptions) lanes() [][]string {
	lanes := make([][]string, o.Sessions)
	per := o.Messages / o.Users
	extra := o.Messages % o.Users
	for u := 1; u <= o.Users; u++ {
		n := per
		if u <= extra {
			n++
		}
		l := (u - 1) % o.Sessions
		for range n {
			lanes[l] = append(lanes[l], UserName(o.RcptFormat, u))
		}
	}
	return lanes
}

// RunSMTP sends o.Messages messages and reports messages accepted per
// second and the latency of each message: from its first byte (the
// connection, or MAIL FROM on a reused connection) to the final 250
// (total_p50/p99), and from the end of DATA to the 250 (data_p50/p99),
// which is what durable storage costs.
func RunSMTP(ctx context.Context, o SMTPOptions) (*Result, error) {
	o.defaults()
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	if o.Sessions > o.Users {
		return nil, fmt.Errorf("bench smtp: %d sessions for %d users: every session needs its own users", o.Sessions, o.Users)
	}
	lanes := o.lanes()
	var total, data Latencies
	var sent, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		if failed.Add(1) >= int64(o.MaxErrors) {
			cancel()
		}
	}
	d := &dialer{timeout: o.Timeout}
	var wg sync.WaitGroup
	start := time.Now()
	for _, rcpts := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *smtpConn
			defer func() {
				if conn != nil {
					conn.quit()
				}
			}()
			for i, rcpt := range rcpts {
				if ctx.Err() != nil {
					return
				}
				body := dotStuff(makeMessage(o.From, rcpt, i, o.Size))
				t0 := time.Now()
				if conn == nil {
					c, err := dialSMTP(ctx, d, o.Addr, o.Helo, o.Timeout)
					if err != nil {
						fail(fmt.Errorf("connect: %w", err))
						continue
					}
					conn = c
				}
				ts, err := conn.send(o.From, []string{rcpt}, body)
				if err != nil {
					fail(err)
					conn.close()
					conn = nil
					continue
				}
				total.Add(ts.done.Sub(t0))
				data.Add(ts.done.Sub(ts.dot))
				sent.Add(1)
				if !o.Reuse {
					conn.quit()
					conn = nil
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := &Result{}
	r.Set("workload", "smtp").Set("sessions", o.Sessions).Set("size", o.Size).
		Set("keepalive", yesNo(o.Reuse)).Set("messages", sent.Load()).Set("errors", failed.Load()).
		Set("secs", elapsed).Set("msgs_per_s", rate(float64(sent.Load()), elapsed))
	total.Report(r, "total")
	data.Report(r, "data")
	if sent.Load() == 0 && firstErr != nil {
		return r, fmt.Errorf("bench smtp: nothing sent: %w", firstErr)
	}
	if firstErr != nil {
		return r, fmt.Errorf("bench smtp: %d messages failed, first: %w", failed.Load(), firstErr)
	}
	return r, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

var errTimeout = errors.New("timed out")

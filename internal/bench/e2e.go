package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// E2EOptions configure the end-to-end workload.
type E2EOptions struct {
	SMTPAddr string
	IMAPAddr string
	// Pairs of (sender, IDLE-ing reader), each on its own user
	// FirstUser+i; every pair has one message in flight at a time.
	Pairs       int
	FirstUser   int
	Messages    int // per pair
	Size        int
	RcptFormat  string // "bench%d@example.test"
	LoginFormat string // "bench%d@example.test"
	Password    string
	From        string
	// Wait is how long a message may take to show up (default 30s).
	Wait    time.Duration
	Timeout time.Duration
}

func (o *E2EOptions) defaults() {
	if o.Pairs <= 0 {
		o.Pairs = 1
	}
	if o.FirstUser <= 0 {
		o.FirstUser = 1
	}
	if o.Messages <= 0 {
		o.Messages = 100
	}
	if o.Size <= 0 {
		o.Size = 5120
	}
	if o.RcptFormat == "" {
		o.RcptFormat = "bench%d@example.test"
	}
	if o.LoginFormat == "" {
		o.LoginFormat = "bench%d@example.test"
	}
	if o.From == "" {
		o.From = "loadgen@example.test"
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
}

// RunE2E measures how long a message takes from SMTP to an IDLE-ing IMAP
// client: each pair's reader SELECTs INBOX and IDLEs; its sender delivers
// one message over SMTP (a reused connection) and waits until the reader
// sees the EXISTS for it. Reported: from the end of DATA to EXISTS
// (e2e_p50/p99), and from the 250 reply to EXISTS (after250_p50/p99; 0
// when EXISTS came first, as it may from a server that announces new mail
// once it is durable, before its 250 is read).
func RunE2E(ctx context.Context, o E2EOptions) (*Result, error) {
	o.defaults()
	for _, a := range []string{o.SMTPAddr, o.IMAPAddr} {
		if err := CheckLoopback(a); err != nil {
			return nil, err
		}
	}
	var e2e, after250, data Latencies
	var delivered, before250 atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &dialer{timeout: o.Timeout}
	var wg sync.WaitGroup
	ready := make(chan error, o.Pairs)
	startSending := make(chan struct{})
	for p := 0; p < o.Pairs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e2ePair(ctx, d, o, o.FirstUser+p, ready, startSending, func(dot, done, seen time.Time) {
				e2e.Add(seen.Sub(dot))
				data.Add(done.Sub(dot))
				if seen.Before(done) {
					before250.Add(1)
					after250.Add(0)
				} else {
					after250.Add(seen.Sub(done))
				}
				delivered.Add(1)
			})
			if err != nil {
				errOnce.Do(func() { firstErr = fmt.Errorf("user %d: %w", o.FirstUser+p, err) })
				cancel()
			}
		}()
	}
	// Start sending once every reader is IDLE-ing.
	var setupErr error
	for range o.Pairs {
		if err := <-ready; err != nil && setupErr == nil {
			setupErr = err
		}
	}
	start := time.Now()
	close(startSending)
	wg.Wait()
	elapsed := time.Since(start)
	r := &Result{}
	r.Set("workload", "e2e").Set("pairs", o.Pairs).Set("size", o.Size).Set("messages", delivered.Load()).
		Set("secs", elapsed).Set("msgs_per_s", rate(float64(delivered.Load()), elapsed))
	e2e.Report(r, "e2e")
	after250.Report(r, "after250")
	data.Report(r, "data")
	r.Set("exists_before_250", before250.Load())
	if firstErr == nil {
		firstErr = setupErr
	}
	if firstErr != nil {
		return r, fmt.Errorf("bench e2e: %w", firstErr)
	}
	return r, nil
}

func e2ePair(ctx context.Context, d *dialer, o E2EOptions, user int, ready chan<- error, start <-chan struct{},
	record func(dot, done, seen time.Time)) error {
	// The reader: EXISTS counts arrive on a channel with their time.
	type seen struct {
		n  uint32
		at time.Time
	}
	exists := make(chan seen, 1024)
	conn, err := d.dial(ctx, o.IMAPAddr)
	if err != nil {
		ready <- err
		return err
	}
	c := imapclient.New(conn, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(m *imapclient.UnilateralDataMailbox) {
			if m.NumMessages != nil {
				select {
				case exists <- seen{*m.NumMessages, time.Now()}:
				default:
				}
			}
		},
	}})
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		err = fmt.Errorf("greeting: %w", err)
		ready <- err
		return err
	}
	login := UserName(o.LoginFormat, user)
	if err := c.Login(login, o.Password).Wait(); err != nil {
		err = fmt.Errorf("LOGIN %s: %w", login, err)
		ready <- err
		return err
	}
	sd, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		err = fmt.Errorf("SELECT: %w", err)
		ready <- err
		return err
	}
	count := sd.NumMessages
	idle, err := c.Idle()
	if err != nil {
		err = fmt.Errorf("IDLE: %w", err)
		ready <- err
		return err
	}
	defer idle.Close()
	ready <- nil
	select {
	case <-start:
	case <-ctx.Done():
		return nil
	}
	rcpt := UserName(o.RcptFormat, user)
	var s *smtpConn
	defer func() {
		if s != nil {
			s.quit()
		}
	}()
	for i := 0; i < o.Messages; i++ {
		if ctx.Err() != nil {
			return nil
		}
		if s == nil {
			if s, err = dialSMTP(ctx, d, o.SMTPAddr, "loadgen.example.test", o.Timeout); err != nil {
				return fmt.Errorf("SMTP connect: %w", err)
			}
		}
		body := dotStuff(makeMessage(o.From, rcpt, i, o.Size))
		ts, err := s.send(o.From, []string{rcpt}, body)
		if err != nil {
			return fmt.Errorf("SMTP: %w", err)
		}
		want := count + 1
		deadline := time.NewTimer(o.Wait)
	wait:
		for {
			select {
			case e := <-exists:
				if e.n >= want {
					record(ts.dot, ts.done, e.at)
					count = e.n
					break wait
				}
			case <-deadline.C:
				return fmt.Errorf("message %d not seen by the IDLE-ing client after %v: %w", i, o.Wait, errTimeout)
			case <-ctx.Done():
				deadline.Stop()
				return nil
			}
		}
		deadline.Stop()
	}
	return nil
}

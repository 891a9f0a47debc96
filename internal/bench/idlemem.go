package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IdleMemOptions configure the idle-connection memory workload.
type IdleMemOptions struct {
	Addr        string
	Conns       int
	Users       int // connection i logs in as user FirstUser + i % Users
	FirstUser   int
	LoginFormat string
	Password    string
	// Target are the server processes whose memory is measured.
	Target MemTarget
	// Sources > 1 dials from 127.0.0.1 .. 127.0.0.Sources in turn, for
	// more connections than one source address has local ports.
	Sources     int
	Concurrency int           // logins in flight
	Warmup      int           // connections opened and closed before the baseline
	Settle      time.Duration // wait before each measurement
	NoSelect    bool          // only log in (default: SELECT INBOX and IDLE)
	Timeout     time.Duration
	// Progress, if set, gets a line now and then while connections open.
	Progress func(string)
}

func (o *IdleMemOptions) defaults() {
	if o.Conns <= 0 {
		o.Conns = 1000
	}
	if o.Users <= 0 {
		o.Users = 50
	}
	if o.FirstUser <= 0 {
		o.FirstUser = 1
	}
	if o.LoginFormat == "" {
		o.LoginFormat = "bench%d@example.test"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Settle <= 0 {
		o.Settle = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
}

type rawIMAP struct {
	c net.Conn
	r *bufio.Reader
}

// command sends "tag line" and reads until the tagged reply, which must be OK.
func (x *rawIMAP) command(tag, line string, to time.Duration) error {
	x.c.SetDeadline(time.Now().Add(to))
	if _, err := x.c.Write([]byte(tag + " " + line + "\r\n")); err != nil {
		return err
	}
	return x.until(tag)
}

func (x *rawIMAP) until(tag string) error {
	for {
		l, err := x.r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return fmt.Errorf("%s", strings.TrimSpace(l))
			}
			return nil
		}
	}
}

// open connects, logs in and (unless noSelect) selects INBOX and starts IDLE.
func openIdle(ctx context.Context, d *dialer, o *IdleMemOptions, user string) (*rawIMAP, error) {
	c, err := d.dial(ctx, o.Addr)
	if err != nil {
		return nil, err
	}
	x := &rawIMAP{c: c, r: bufio.NewReaderSize(c, 1024)}
	c.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := x.r.ReadString('\n'); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := x.command("a", "LOGIN "+quote(user)+" "+quote(o.Password), o.Timeout); err != nil {
		c.Close()
		return nil, fmt.Errorf("LOGIN %s: %w", user, err)
	}
	if !o.NoSelect {
		if err := x.command("b", "SELECT INBOX", o.Timeout); err != nil {
			c.Close()
			return nil, fmt.Errorf("SELECT: %w", err)
		}
		c.Write([]byte("c IDLE\r\n"))
		for {
			l, err := x.r.ReadString('\n')
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("IDLE: %w", err)
			}
			if strings.HasPrefix(l, "+") {
				break
			}
			if strings.HasPrefix(l, "c ") {
				c.Close()
				return nil, fmt.Errorf("IDLE: %s", strings.TrimSpace(l))
			}
		}
	}
	c.SetDeadline(time.Time{})
	return x, nil
}

// alive ends IDLE and checks the connection still answers.
func (x *rawIMAP) alive(o *IdleMemOptions) bool {
	x.c.SetDeadline(time.Now().Add(o.Timeout))
	if !o.NoSelect {
		if _, err := x.c.Write([]byte("DONE\r\n")); err != nil {
			return false
		}
		if x.until("c") != nil {
			return false
		}
	}
	return x.command("d", "NOOP", o.Timeout) == nil
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// RunIdleMem measures the memory an idle logged-in IMAP connection costs
// the server: the target's memory after Warmup logins (so that buffers
// every login needs are in the baseline), then with Conns connections
// logged in, INBOX selected and IDLE-ing. Every connection is then checked
// to still answer (alive). Memory is in KiB; per_conn_* is the growth
// divided by the connections open.
func RunIdleMem(ctx context.Context, o IdleMemOptions) (*Result, error) {
	o.defaults()
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	if o.Target.empty() {
		return nil, fmt.Errorf("bench idle-mem: say which processes to measure (-pid or -exe)")
	}
	limit, err := RaiseFileLimit(uint64(o.Conns + o.Warmup + 256))
	if err != nil {
		return nil, err
	}
	if limit < uint64(o.Conns+64) {
		return nil, fmt.Errorf("bench idle-mem: file limit %d is too low for %d connections", limit, o.Conns)
	}
	d := &dialer{timeout: o.Timeout}
	if o.Sources > 1 {
		d.sources = LoopbackSources(o.Sources)
	}
	for i := 0; i < o.Warmup; i++ {
		x, err := openIdle(ctx, d, &o, UserName(o.LoginFormat, o.FirstUser+i%o.Users))
		if err != nil {
			return nil, fmt.Errorf("bench idle-mem: warm-up: %w", err)
		}
		x.alive(&o)
		x.command("z", "LOGOUT", o.Timeout)
		x.c.Close()
	}
	sleep(ctx, o.Settle)
	base, err := o.Target.Measure()
	if err != nil {
		return nil, err
	}
	conns := make([]*rawIMAP, o.Conns)
	var next, opened atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Conns || ctx.Err() != nil {
					return
				}
				x, err := openIdle(ctx, d, &o, UserName(o.LoginFormat, o.FirstUser+i%o.Users))
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					next.Store(int64(o.Conns))
					return
				}
				conns[i] = x
				if n := opened.Add(1); o.Progress != nil && n%1000 == 0 {
					o.Progress(fmt.Sprintf("%d connections open after %.0fs", n, time.Since(start).Seconds()))
				}
			}
		}()
	}
	wg.Wait()
	openTime := time.Since(start)
	defer func() {
		for _, x := range conns {
			if x != nil {
				x.c.Close()
			}
		}
	}()
	r := &Result{}
	r.Set("workload", "idle-mem").Set("conns", o.Conns).Set("opened", opened.Load()).
		Set("open_s", openTime).Set("logins_per_s", rate(float64(opened.Load()), openTime))
	if firstErr != nil {
		return r, fmt.Errorf("bench idle-mem: %d of %d open: %w", opened.Load(), o.Conns, firstErr)
	}
	sleep(ctx, o.Settle)
	busy, err := o.Target.Measure()
	if err != nil {
		return r, err
	}
	// Every connection must still answer.
	var alive atomic.Int64
	work := make(chan *rawIMAP)
	var cw sync.WaitGroup
	for w := 0; w < 64; w++ {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for x := range work {
				if x.alive(&o) {
					alive.Add(1)
				}
				x.c.SetDeadline(time.Now().Add(time.Second))
				x.c.Write([]byte("z LOGOUT\r\n"))
			}
		}()
	}
	for _, x := range conns {
		work <- x
	}
	close(work)
	cw.Wait()
	n := float64(opened.Load())
	r.Set("alive", alive.Load()).Set("procs", busy.Procs).
		Set("base_rss_kib", base.RSS).Set("rss_kib", busy.RSS).
		Set("base_pss_kib", base.Pss).Set("pss_kib", busy.Pss).
		Set("per_conn_rss_kib", float64(busy.RSS-base.RSS)/n).
		Set("per_conn_pss_kib", float64(busy.Pss-base.Pss)/n).
		Set("per_conn_private_kib", float64(busy.Private-base.Private)/n).
		Set("per_conn_anon_kib", float64(busy.Anon-base.Anon)/n)
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

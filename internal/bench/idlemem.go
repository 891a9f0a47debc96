package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IdleMemOptions configure the idle-connection memory workload.
type IdleMemOptions struct {
	Addr string
	// Steps are the connection counts measured, in one session: the
	// connections of a step stay open for the next (default 1000).
	Steps       []int
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
	Warmup      int           // logins (opened and closed) before the baseline
	Settle      time.Duration // wait before each measurement
	NoSelect    bool          // only log in (default: SELECT INBOX and IDLE)
	Timeout     time.Duration
	// Progress, if set, gets a line now and then while connections open.
	Progress func(string)
}

func (o *IdleMemOptions) defaults() {
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
// the server. It opens Warmup connections and closes them (so that what
// every login needs, such as the password hash's working memory, is in the
// baseline), measures the target, then opens connections (logged in, INBOX
// selected, IDLE) up to each count of Steps in turn and measures again.
// It returns one result per step: memory in KiB, per_conn_* is the growth
// over the baseline divided by the connections open, step_per_conn_* the
// growth since the previous step divided by the connections it added
// (the marginal cost, free of whatever the first logins left behind).
// After the last step every connection is checked to still answer (alive).
func RunIdleMem(ctx context.Context, o IdleMemOptions) ([]*Result, error) {
	o.defaults()
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	if o.Target.empty() {
		return nil, fmt.Errorf("bench idle-mem: say which processes to measure (-pid or -exe)")
	}
	steps := slices.Clone(o.Steps)
	if len(steps) == 0 {
		steps = []int{1000}
	}
	slices.Sort(steps)
	total := steps[len(steps)-1]
	limit, err := RaiseFileLimit(uint64(total + o.Warmup + 256))
	if err != nil {
		return nil, err
	}
	if limit < uint64(total+64) {
		return nil, fmt.Errorf("bench idle-mem: file limit %d is too low for %d connections", limit, total)
	}
	d := &dialer{timeout: o.Timeout}
	if o.Sources > 1 {
		d.sources = LoopbackSources(o.Sources)
	}
	if err := warmUp(ctx, d, &o); err != nil {
		return nil, err
	}
	sleep(ctx, o.Settle)
	base, err := o.Target.Measure()
	if err != nil {
		return nil, err
	}
	conns := make([]*rawIMAP, total)
	defer func() {
		for _, x := range conns {
			if x != nil {
				x.c.Close()
			}
		}
	}()
	var out []*Result
	prev, prevN := base, 0
	start := time.Now()
	var openTime time.Duration // time spent opening connections, settling excluded
	for _, n := range steps {
		t0 := time.Now()
		opened, err := openRange(ctx, d, &o, conns, prevN, n, start)
		openTime += time.Since(t0)
		r := &Result{}
		out = append(out, r)
		r.Set("workload", "idle-mem").Set("conns", n).Set("opened", prevN+opened).
			Set("open_s", openTime).Set("logins_per_s", rate(float64(prevN+opened), openTime))
		if err != nil {
			return out, fmt.Errorf("bench idle-mem: %d of %d open: %w", prevN+opened, n, err)
		}
		sleep(ctx, o.Settle)
		m, err := o.Target.Measure()
		if err != nil {
			return out, err
		}
		r.Set("procs", m.Procs).Set("base_rss_kib", base.RSS).Set("rss_kib", m.RSS).
			Set("base_pss_kib", base.Pss).Set("pss_kib", m.Pss)
		perConn(r, "per_conn", base, m, n)
		if prevN > 0 {
			perConn(r, "step_per_conn", prev, m, n-prevN)
		}
		prev, prevN = m, n
	}
	alive := checkAlive(conns, &o)
	for _, r := range out {
		r.Set("alive", alive)
	}
	return out, nil
}

func perConn(r *Result, prefix string, from, to Memory, n int) {
	f := float64(n)
	r.Set(prefix+"_rss_kib", float64(to.RSS-from.RSS)/f).
		Set(prefix+"_pss_kib", float64(to.Pss-from.Pss)/f).
		Set(prefix+"_private_kib", float64(to.Private-from.Private)/f).
		Set(prefix+"_anon_kib", float64(to.Anon-from.Anon)/f)
}

func warmUp(ctx context.Context, d *dialer, o *IdleMemOptions) error {
	work := make(chan int)
	errs := make(chan error, o.Concurrency)
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				x, err := openIdle(ctx, d, o, UserName(o.LoginFormat, o.FirstUser+i%o.Users))
				if err != nil {
					errs <- fmt.Errorf("bench idle-mem: warm-up: %w", err)
					return
				}
				x.alive(o)
				x.command("z", "LOGOUT", o.Timeout)
				x.c.Close()
			}
		}()
	}
	var err error
feed:
	for i := 0; i < o.Warmup; i++ {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// openRange opens connections conns[from:to] with o.Concurrency logins in
// flight and returns how many it opened.
func openRange(ctx context.Context, d *dialer, o *IdleMemOptions, conns []*rawIMAP, from, to int, start time.Time) (int, error) {
	var next, opened atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to || ctx.Err() != nil {
					return
				}
				x, err := openIdle(ctx, d, o, UserName(o.LoginFormat, o.FirstUser+i%o.Users))
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					next.Store(int64(to))
					return
				}
				conns[i] = x
				if n := from + int(opened.Add(1)); o.Progress != nil && n%1000 == 0 {
					o.Progress(fmt.Sprintf("%d connections open after %.0fs", n, time.Since(start).Seconds()))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return int(opened.Load()), firstErr
}

// checkAlive ends IDLE on every connection, checks that it answers, and
// logs it out; it returns how many answered.
func checkAlive(conns []*rawIMAP, o *IdleMemOptions) int64 {
	var alive atomic.Int64
	work := make(chan *rawIMAP)
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range work {
				if x.alive(o) {
					alive.Add(1)
				}
				x.c.SetDeadline(time.Now().Add(time.Second))
				x.c.Write([]byte("z LOGOUT\r\n"))
			}
		}()
	}
	for _, x := range conns {
		if x != nil {
			work <- x
		}
	}
	close(work)
	wg.Wait()
	return alive.Load()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

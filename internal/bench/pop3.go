package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// POP3Options configure the POP3 workload.
type POP3Options struct {
	Addr        string
	Parallel    int // parallel clients
	Users       int // users 1..Users are downloaded once per round
	Rounds      int
	LoginFormat string // "bench%d@example.test"
	Password    string
	Timeout     time.Duration
}

func (o *POP3Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 10
	}
	if o.Users <= 0 {
		o.Users = 50
	}
	o.Parallel = min(o.Parallel, o.Users)
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.LoginFormat == "" {
		o.LoginFormat = "bench%d@example.test"
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
}

// RunPOP3 downloads every message of many maildrops with parallel clients,
// as bench/pop3-bench.py does: client i serves users i+1, i+1+Parallel...;
// each session is USER, PASS, STAT, LIST, RETR of every message (no DELE,
// so runs repeat) and QUIT. It reports messages and MB per second, and the
// latency of the login (connect to +OK after PASS), of each RETR and of
// whole sessions.
func RunPOP3(ctx context.Context, o POP3Options) (*Result, error) {
	o.defaults()
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	var login, retr, session Latencies
	var msgs, bytesRead, sessions atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &dialer{timeout: o.Timeout}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range o.Rounds {
				for u := w + 1; u <= o.Users; u += o.Parallel {
					if ctx.Err() != nil {
						return
					}
					t0 := time.Now()
					n, b, err := pop3Session(ctx, d, o, UserName(o.LoginFormat, u), &login, &retr)
					if err != nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("user %d: %w", u, err) })
						cancel()
						return
					}
					session.Add(time.Since(t0))
					msgs.Add(int64(n))
					bytesRead.Add(b)
					sessions.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := &Result{}
	r.Set("workload", "pop3").Set("parallel", o.Parallel).Set("sessions", sessions.Load()).
		Set("msgs", msgs.Load()).Set("MB", float64(bytesRead.Load())/1e6).Set("secs", elapsed).
		Set("msgs_per_s", rate(float64(msgs.Load()), elapsed)).
		Set("MB_per_s", rate(float64(bytesRead.Load())/1e6, elapsed)).
		Set("sessions_per_s", rate(float64(sessions.Load()), elapsed))
	login.Report(r, "login")
	retr.Report(r, "retr")
	session.Report(r, "session")
	if firstErr != nil {
		return r, fmt.Errorf("bench pop3: %w", firstErr)
	}
	return r, nil
}

type pop3Conn struct {
	c  net.Conn
	r  *bufio.Reader
	to time.Duration
}

func (p *pop3Conn) line() ([]byte, error) {
	p.c.SetReadDeadline(time.Now().Add(p.to))
	l, err := p.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(l, []byte("+OK")) {
		return nil, fmt.Errorf("%s", bytes.TrimSpace(l))
	}
	return l, nil
}

func (p *pop3Conn) cmd(c string) ([]byte, error) {
	p.c.SetWriteDeadline(time.Now().Add(p.to))
	if _, err := p.c.Write([]byte(c + "\r\n")); err != nil {
		return nil, err
	}
	l, err := p.line()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb(c), err)
	}
	return l, nil
}

// multi reads a multi-line body after its +OK line and returns its size
// (the bytes of the lines, CRLF included, without the final ".").
func (p *pop3Conn) multi(c string) (int64, error) {
	if _, err := p.cmd(c); err != nil {
		return 0, err
	}
	var n int64
	for {
		p.c.SetReadDeadline(time.Now().Add(p.to))
		l, err := p.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			n += int64(len(l))
			// A very long line: keep reading it.
			for err == bufio.ErrBufferFull {
				l, err = p.r.ReadSlice('\n')
				n += int64(len(l))
			}
			if err != nil {
				return n, err
			}
			continue
		}
		if err != nil {
			return n, err
		}
		if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
			return n, nil
		}
		n += int64(len(l))
	}
}

func pop3Session(ctx context.Context, d *dialer, o POP3Options, user string, login, retr *Latencies) (int, int64, error) {
	t0 := time.Now()
	c, err := d.dial(ctx, o.Addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	p := &pop3Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), to: o.Timeout}
	if _, err := p.line(); err != nil {
		return 0, 0, fmt.Errorf("greeting: %w", err)
	}
	if _, err := p.cmd("USER " + user); err != nil {
		return 0, 0, err
	}
	if _, err := p.cmd("PASS " + o.Password); err != nil {
		return 0, 0, err
	}
	login.Add(time.Since(t0))
	st, err := p.cmd("STAT")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(st))
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("STAT: %q", st)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("STAT: %q", st)
	}
	if _, err := p.multi("LIST"); err != nil {
		return 0, 0, err
	}
	var total int64
	for i := 1; i <= n; i++ {
		t := time.Now()
		b, err := p.multi("RETR " + strconv.Itoa(i))
		if err != nil {
			return 0, 0, err
		}
		retr.Add(time.Since(t))
		total += b
	}
	if _, err := p.cmd("QUIT"); err != nil {
		return 0, 0, err
	}
	return n, total, nil
}

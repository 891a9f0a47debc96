package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// ReadMbox reads the messages of an mbox file (as bench/gen-mbox.py writes
// it: "From " lines separate messages, body lines starting with "From "
// are quoted as ">From "). Messages are returned with CRLF line endings,
// without the separator line.
func ReadMbox(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMbox(f)
}

func parseMbox(r io.Reader) ([][]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var msgs [][]byte
	var cur *bytes.Buffer
	flush := func() {
		if cur == nil {
			return
		}
		b := cur.Bytes()
		// The blank line before the next separator belongs to the mbox.
		b = bytes.TrimSuffix(b, []byte("\r\n\r\n"))
		if len(b) > 0 {
			msgs = append(msgs, append(b, "\r\n"...))
		}
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if bytes.HasPrefix(line, []byte("From ")) {
				flush()
				cur = &bytes.Buffer{}
			} else if cur != nil {
				cur.Write(bytes.TrimRight(line, "\r\n"))
				cur.WriteString("\r\n")
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	flush()
	if len(msgs) == 0 {
		return nil, fmt.Errorf("bench: no messages in the mbox")
	}
	return msgs, nil
}

// FillOptions configure provisioning: the same messages put into the
// INBOX of users FirstUser..FirstUser+Users-1, over SMTP (each server's
// own delivery path) or IMAP APPEND.
type FillOptions struct {
	Via         string // "smtp" or "imap"
	Addr        string
	Messages    [][]byte
	Count       int // messages per user (default: all; the list repeats)
	Users       int
	FirstUser   int
	RcptFormat  string
	LoginFormat string
	Password    string
	From        string
	Parallel    int
	Timeout     time.Duration
}

// Fill provisions mailboxes and reports how many messages it stored.
func Fill(ctx context.Context, o FillOptions) (*Result, error) {
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	if o.Count <= 0 {
		o.Count = len(o.Messages)
	}
	if o.Users <= 0 {
		o.Users = 1
	}
	if o.FirstUser <= 0 {
		o.FirstUser = 1
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
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if len(o.Messages) == 0 {
		return nil, fmt.Errorf("bench fill: no messages")
	}
	type job struct{ user, msg int }
	jobs := make(chan job)
	var stored atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancel()
	}
	d := &dialer{timeout: o.Timeout}
	var wg sync.WaitGroup
	start := time.Now()
	switch o.Via {
	case "smtp":
		for w := 0; w < o.Parallel; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var s *smtpConn
				defer func() {
					if s != nil {
						s.quit()
					}
				}()
				for j := range jobs {
					var err error
					if s == nil {
						if s, err = dialSMTP(ctx, d, o.Addr, "loadgen.example.test", o.Timeout); err != nil {
							fail(err)
							return
						}
					}
					body := dotStuff(o.Messages[j.msg%len(o.Messages)])
					if _, err := s.send(o.From, []string{UserName(o.RcptFormat, j.user)}, body); err != nil {
						fail(fmt.Errorf("user %d message %d: %w", j.user, j.msg, err))
						return
					}
					stored.Add(1)
				}
			}()
		}
		go func() {
			defer close(jobs)
			for m := 0; m < o.Count; m++ {
				for u := o.FirstUser; u < o.FirstUser+o.Users; u++ {
					select {
					case jobs <- job{u, m}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	case "imap":
		// One connection per user, APPENDing in order, so that UIDs follow
		// the mbox; users in parallel.
		users := make(chan int)
		for w := 0; w < min(o.Parallel, o.Users); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range users {
					if err := appendAll(ctx, d, o, u, &stored); err != nil {
						fail(fmt.Errorf("user %d: %w", u, err))
						return
					}
				}
			}()
		}
		go func() {
			defer close(users)
			for u := o.FirstUser; u < o.FirstUser+o.Users; u++ {
				select {
				case users <- u:
				case <-ctx.Done():
					return
				}
			}
		}()
	default:
		return nil, fmt.Errorf("bench fill: -via must be smtp or imap, not %q", o.Via)
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := &Result{}
	r.Set("workload", "fill").Set("via", o.Via).Set("users", o.Users).Set("stored", stored.Load()).
		Set("secs", elapsed).Set("msgs_per_s", rate(float64(stored.Load()), elapsed))
	if firstErr != nil {
		return r, fmt.Errorf("bench fill: %w", firstErr)
	}
	return r, nil
}

func appendAll(ctx context.Context, d *dialer, o FillOptions, user int, stored *atomic.Int64) error {
	conn, err := d.dial(ctx, o.Addr)
	if err != nil {
		return err
	}
	c := imapclient.New(conn, &imapclient.Options{})
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		return err
	}
	if err := c.Login(UserName(o.LoginFormat, user), o.Password).Wait(); err != nil {
		return fmt.Errorf("LOGIN: %w", err)
	}
	for m := 0; m < o.Count; m++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := o.Messages[m%len(o.Messages)]
		cmd := c.Append("INBOX", int64(len(msg)), nil)
		if _, err := cmd.Write(msg); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("APPEND: %w", err)
		}
		stored.Add(1)
	}
	return c.Logout().Wait()
}

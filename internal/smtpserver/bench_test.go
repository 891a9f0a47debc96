package smtpserver_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// BenchmarkDATA measures one message through a whole server as `serve`
// wires it: MAIL, RCPT, DATA of 5 KB over a kept connection, to the 250
// that follows the fsynced blob and the durable SQLite commit. With
// several sessions, deliveries share commits (group commit).
func BenchmarkDATA(b *testing.B) {
	for _, sessions := range []int{1, 16} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) { benchDATA(b, sessions) })
	}
}

func benchDATA(b *testing.B, sessions int) {
	e := testenv.Start(b, testenv.Options{Configure: func(c *config.Config) {
		c.SMTP.CheckAuthentication = false
		c.Limits.MaxConnectionsPerIP = 1000
	}})
	const users = 8
	for i := range users {
		e.AddUser(b, fmt.Sprintf("u%d@example.test", i), "bench-password")
	}
	body := "From: <s@example.org>\r\nTo: <u@example.test>\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 74)+"\r\n", 5000/76)
	b.SetBytes(int64(len(body)))
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	for id := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(e.Addr["smtp"])
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			if err := c.Hello("bench.example.org"); err != nil {
				b.Error(err)
				return
			}
			rcpt := fmt.Sprintf("u%d@example.test", id%users)
			for left.Add(-1) >= 0 {
				if err := c.Mail("s@example.org", nil); err != nil {
					b.Error(err)
					return
				}
				if err := c.Rcpt(rcpt, nil); err != nil {
					b.Error(err)
					return
				}
				w, err := c.Data()
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := w.Write([]byte(body)); err != nil {
					b.Error(err)
					return
				}
				if err := w.Close(); err != nil { // the 250
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

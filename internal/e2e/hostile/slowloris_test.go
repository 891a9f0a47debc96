package hostile

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
)

// halfClientHello returns the first half of a real TLS ClientHello.
func halfClientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}).Handshake() //nolint:errcheck // only its first record is wanted
	buf := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil || n < 10 {
		t.Fatalf("ClientHello: %d %v", n, err)
	}
	return buf[:n/2]
}

// Slowloris (security.md 1.14): 2,000 connections that each send one
// byte every 2 seconds, or half a TLS ClientHello, spread over SMTP, IMAP
// and POP3 and over 200 loopback addresses (the per-address cap is 20),
// while a normal client on each protocol is served quickly.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 8192 {
		lim.Cur = min(lim.Max, 8192)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < 5000 {
		t.Skipf("RLIMIT_NOFILE %d: 2,000 client and 2,000 server sockets do not fit", lim.Cur)
	}
	e := newEnv(t, func(c *config.Config) { c.Limits.MaxConnections = 2000 })
	hello := halfClientHello(t)
	// The slow connections: plaintext ones send a byte of a command every
	// 2 s; TLS ones send half a ClientHello and then nothing.
	plan := []struct {
		listener string
		n        int
		drip     string // "" for the half ClientHello
	}{
		{"smtp", 500, "EHLO slow.example\r\n"},
		{"submission", 150, "EHLO slow.example\r\n"},
		{"imap", 500, "a LOGIN slow slow\r\n"},
		{"pop3", 450, "USER slow\r\n"},
		{"submissions", 100, ""},
		{"imaps", 150, ""},
		{"pop3s", 150, ""},
	}
	var mu sync.Mutex
	var conns []net.Conn
	opened, refused := 0, 0
	ipN := 0
	for _, p := range plan {
		for i := range p.n {
			ip := fmt.Sprintf("127.0.%d.%d", 100+ipN/200, 1+ipN%200)
			ipN++
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			c, err := d.Dial("tcp", e.Addr[p.listener])
			if err != nil {
				refused++
				continue
			}
			opened++
			conns = append(conns, c)
			if p.drip == "" {
				c.Write(hello)
			} else {
				c.Write([]byte{p.drip[i%len(p.drip)]})
			}
		}
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	t.Logf("%d slow connections open (%d refused at connect)", opened, refused)
	if opened < 1900 {
		t.Fatalf("only %d of 2000 slow connections could be opened", opened)
	}
	// Drip: one more byte every 2 s on every plaintext connection, while
	// the normal clients run.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				c.Write([]byte("x"))
			}
			mu.Unlock()
		}
	}()
	// Normal clients, one per protocol, three rounds over ~6 seconds.
	var worst time.Duration
	for round := range 3 {
		for _, name := range []string{"smtp", "submissions", "imaps", "pop3s"} {
			start := time.Now()
			c := dial(t, e, name, "127.0.0.1")
			c.greet()
			switch proto(name) {
			case "smtp":
				if name == "smtp" {
					c.cmd("EHLO client.test", "250 ")
					c.cmd("MAIL FROM:<a@ext.test>", "250")
					c.cmd("RCPT TO:<"+user+">", "250")
					c.cmd("DATA", "354")
					c.cmd("Subject: during slowloris\r\n\r\nhello\r\n.", "250")
					c.cmd("QUIT", "221")
				} else if r := c.login(user, password); !loginOK(r) {
					t.Errorf("%s login: %q", name, r)
				}
			case "imap":
				if r := c.login(user, password); !loginOK(r) {
					t.Errorf("%s login: %q", name, r)
				}
				c.cmd("s SELECT INBOX", "s OK")
			default:
				if r := c.login(user, password); !loginOK(r) {
					t.Errorf("%s login: %q", name, r)
				}
				c.cmd("STAT", "+OK")
			}
			took := time.Since(start)
			worst = max(worst, took)
			if took > 5*time.Second {
				t.Errorf("round %d: %s session took %v", round, name, took)
			}
			c.c.Close()
		}
		time.Sleep(2 * time.Second) // let the slow clients drip between rounds
	}
	close(stop)
	wg.Wait()
	// Most slow connections are still held open by the server (they are
	// within every timeout): the normal clients were served anyway.
	alive := 0
	buf := make([]byte, 1)
	mu.Lock()
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				alive++
			}
		} else {
			alive++ // a greeting
		}
	}
	mu.Unlock()
	t.Logf("normal sessions: slowest %v; %d of %d slow connections still open at the end", worst.Round(time.Millisecond), alive, opened)
}

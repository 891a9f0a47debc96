package smtpserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSizeLimits(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	e := newEnv(t, MX, func(c *Config, d *Deps) { c.MaxMessageSize = limit; c.MaxHeaderSize = 4096 })
	r := e.raw()
	got := r.cmd("EHLO client.test", "250")
	if !strings.Contains(got, fmt.Sprintf("SIZE %d", limit)) {
		t.Errorf("EHLO %q", got)
	}
	r.cmd(fmt.Sprintf("MAIL FROM:<a@ext.test> SIZE=%d", limit+1), "552 5.3.4")
	r.cmd("MAIL FROM:<a@ext.test> SIZE=99999999999", "501") // not a 32-bit number
	// Twice the limit without SIZE: refused after the final dot.
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	r.cmd("DATA", "354")
	line := strings.Repeat("x", 998) + "\r\n"
	r.send("Subject: big\r\n\r\n" + strings.Repeat(line, 2*limit/len(line)) + ".\r\n")
	r.expect("552 5.3.4")
	// A header section beyond MaxHeaderSize.
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	r.cmd("DATA", "354")
	r.send(strings.Repeat("X-Long: "+strings.Repeat("y", 90)+"\r\n", 50) + "\r\nbody\r\n.\r\n")
	r.expect("552 5.3.4")
	// The connection is still usable.
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	r.cmd("DATA", "354")
	r.cmd("Subject: ok\r\n\r\nsmall\r\n.", "250")
	if n := len(e.st.delivered()); n != 1 {
		t.Fatalf("%d stored", n)
	}
}

func TestLineTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX, func(c *Config, d *Deps) { c.MaxLineLength = 1000 })
	r := e.raw()
	r.send("EHLO " + strings.Repeat("a", 2000) + "\r\n")
	r.expect("500 5.4.0")
	if !r.closed() {
		t.Error("not closed")
	}
}

func TestRecipientLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX, func(c *Config, d *Deps) { c.MaxRecipients = 3; c.MaxBadRecipients = 3 })
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	for _, to := range []string{"alice@local.test", "bob@local.test", "sales@local.test"} {
		r.cmd("RCPT TO:<"+to+">", "250")
	}
	r.cmd("RCPT TO:<alice+4@local.test>", "452 4.5.3")
	r.cmd("RSET", "250")
	// Directory harvesting: the third unknown recipient ends the connection.
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<x1@local.test>", "550 5.1.1")
	r.cmd("RCPT TO:<x2@local.test>", "550 5.1.1")
	r.cmd("RCPT TO:<x3@ext.test>", "421 4.7.0")
	if !r.closed() {
		t.Error("not closed")
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX, func(c *Config, d *Deps) { c.MaxConnsPerIP = 2; c.MaxConns = 3 })
	a, b := e.raw(), e.raw()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	third := &raw{t: t, c: c, br: newReader(c)}
	third.expect("421 4.7.0")
	if !third.closed() {
		t.Error("third connection not closed")
	}
	// Closing one frees a slot.
	a.cmd("QUIT", "221")
	waitFor(t, "slot released", func() bool { return e.srv.ConnCount() == 1 })
	e.raw().cmd("NOOP", "250")
	b.cmd("NOOP", "250")
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX, func(c *Config, d *Deps) { c.CommandTimeout = 300 * time.Millisecond })
	r := e.raw()
	start := time.Now()
	r.expect("421 4.4.2") // idle: go-smtp's reply to a read timeout
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle timeout took %v", d)
	}
	// The session deadline holds against a client that keeps talking.
	e2 := newEnv(t, MX, func(c *Config, d *Deps) { c.SessionTimeout = 500 * time.Millisecond })
	r = e2.raw()
	start = time.Now()
	for time.Since(start) < 5*time.Second {
		r.send("NOOP\r\n")
		got, err := r.reply()
		if err != nil || strings.HasPrefix(got, "421") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("session deadline not enforced (%v)", d)
	}
}

func TestHTTPVerbsClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	for _, first := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /form HTTP/1.1\r\n",
		"CONNECT mx:25 HTTP/1.1\r\n",
		"EHLO client.test\r\nHEAD / HTTP/1.0\r\n",
		"EHLO client.test\r\nPUT /x HTTP/1.1\r\n",
	} {
		r := e.raw()
		r.send(first)
		if strings.HasPrefix(first, "EHLO") {
			r.expect("250")
		}
		r.expect("421 4.7.0")
		if !r.closed() {
			t.Errorf("%q: not closed", first)
		}
	}
	// The same words inside a message are content.
	c := e.dial(false)
	if err := send(c, "a@ext.test", []string{"alice@local.test"}, "Subject: x\r\n\r\nGET / HTTP/1.1\r\nPOST / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
}

// TestSTARTTLSInjection: commands pipelined after STARTTLS in plaintext are
// discarded (CVE-2011-0411); after TLS the client must say EHLO again
// (RFC 3207 4.2).
func TestSTARTTLSInjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.send("STARTTLS\r\nMAIL FROM:<injected@ext.test>\r\nRCPT TO:<alice@local.test>\r\n")
	r.expect("220")
	tc := tls.Client(r.c, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r = &raw{t: t, c: tc, br: newReader(tc)}
	r.cmd("RCPT TO:<alice@local.test>", "502") // no MAIL was seen (and no EHLO)
	got := r.cmd("EHLO client.test", "250")
	if strings.Contains(got, "STARTTLS") {
		t.Errorf("STARTTLS offered again: %q", got)
	}
	r.cmd("RCPT TO:<alice@local.test>", "502")
	r.cmd("STARTTLS", "502")
	if strings.Contains(e.logs.String(), "injected") {
		t.Errorf("injected command reached the session:\n%s", e.logs.String())
	}
}

func TestALPN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, SubmissionTLS)
	cfg := e.clientTLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if c, err := tls.Dial("tcp", e.addr, cfg); err == nil {
		if err := c.Handshake(); err == nil {
			t.Error("handshake with ALPN http/1.1 succeeded")
		}
		c.Close()
	}
	cfg.NextProtos = []string{"smtp"}
	c, err := tls.Dial("tcp", e.addr, cfg)
	if err != nil {
		t.Fatalf("ALPN smtp: %v", err)
	}
	c.Close()
}

func TestPanicClosesOneConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	e.st.panicFor = 2 // bob
	c := e.dial(false)
	if err := send(c, "a@ext.test", []string{"bob@local.test"}, simpleMsg); code(err) != 421 {
		t.Fatalf("got %v, want 421", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("connection still open after panic")
	}
	if !strings.Contains(e.logs.String(), "panic in session") {
		t.Error("panic not logged")
	}
	c = e.dial(false)
	if err := send(c, "a@ext.test", []string{"alice@local.test"}, simpleMsg); err != nil {
		t.Fatalf("server broken after panic: %v", err)
	}
}

func TestInjectionInCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.cmd("EHLO a\rX-Injected: 1", "501")
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@b>\rRCPT TO:<c@d>", "5")
	r.cmd("MAIL FROM:<;touch /tmp/p;@x.test>", "5")
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<${run{/bin/touch /tmp/p}}@local.test>", "5")
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	idle := e.raw()
	idle.cmd("EHLO client.test", "250")
	busy := e.raw()
	busy.cmd("EHLO client.test", "250")
	busy.cmd("MAIL FROM:<a@ext.test>", "250")
	busy.cmd("RCPT TO:<alice@local.test>", "250")
	busy.cmd("DATA", "354")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	if !idle.closed() {
		t.Error("idle connection not closed")
	}
	busy.cmd("Subject: x\r\n\r\nfinished during shutdown\r\n.", "250")
	if !busy.closed() {
		t.Error("busy connection not closed after its transaction")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(e.st.delivered()); n != 1 {
		t.Fatalf("%d stored", n)
	}
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Error("still accepting")
	}
}

// Package hostile is the cross-protocol hostile-input matrix of issue 8:
// one assembled server (testenv: every listener on loopback, the real
// store) and, for each attack class of ../shared/notes/security.md, the
// cells that apply to SMTP (MX, submission), IMAP and POP3, plaintext and
// TLS. Each cell fails when the server misbehaves.
package hostile

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

const (
	user     = "alice@example.test"
	password = "alice's long password"
)

var (
	envOnce sync.Once
	shared  *testenv.Env
	nextIP  atomic.Uint32
)

// newEnv starts a server as deployed: no plaintext AUTH, the default caps.
func newEnv(t *testing.T, configure func(*config.Config)) *testenv.Env {
	t.Helper()
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) {
		c.Submission.AllowInsecureAuth = false
		c.IMAP.AllowInsecureAuth = false
		c.POP3.AllowInsecureAuth = false
		c.SMTP.CheckAuthentication = false
		if configure != nil {
			configure(c)
		}
	}})
	e.AddUser(t, user, password)
	return e
}

// sourceIP returns a loopback address no other cell uses: failed logins
// are counted per address, and each cell has its own.
func sourceIP() string {
	n := nextIP.Add(1)
	return fmt.Sprintf("127.0.%d.%d", 10+n/250, 1+n%250)
}

// conn is a raw client connection.
type conn struct {
	t    testing.TB
	name string
	c    net.Conn
	r    *bufio.Reader
}

// dial connects to listener name from ip ("" for 127.0.0.1); names ending
// in "s" (submissions, imaps, pop3s) are implicit TLS.
func dial(t testing.TB, e *testenv.Env, name, ip string) *conn {
	t.Helper()
	c, err := dialErr(e, name, ip, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.c.Close() })
	c.t = t
	return c
}

func dialErr(e *testenv.Env, name, ip string, alpn []string) (*conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	nc, err := d.Dial("tcp", e.Addr[name])
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, "s") {
		cfg := e.ClientTLS.Clone()
		cfg.NextProtos = alpn
		tc := tls.Client(nc, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	return &conn{name: name, c: nc, r: bufio.NewReader(nc)}, nil
}

func (c *conn) send(s string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// sendMaybe writes and reports whether the server took it (it may close
// on us mid-way, which is a fine answer to hostile input).
func (c *conn) sendMaybe(s string) bool {
	c.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := io.WriteString(c.c, s)
	return err == nil
}

// line reads one line; "" and false when the connection is closed or quiet for d.
func (c *conn) line(d time.Duration) (string, bool) {
	c.c.SetReadDeadline(time.Now().Add(d))
	l, err := c.r.ReadString('\n')
	if err != nil {
		return strings.TrimRight(l, "\r\n"), false
	}
	return strings.TrimRight(l, "\r\n"), true
}

// expect reads lines until one starts with prefix, skipping SMTP
// continuation lines and IMAP untagged data; anything else fails.
func (c *conn) expect(prefix string) string {
	c.t.Helper()
	var seen []string
	for {
		l, ok := c.line(30 * time.Second)
		if !ok {
			c.t.Fatalf("%s: want %q, connection closed or quiet after %q", c.name, prefix, seen)
		}
		if strings.HasPrefix(l, prefix) && !(len(l) > 3 && l[3] == '-' && l[0] >= '2' && l[0] <= '5') {
			return l
		}
		seen = append(seen, l)
		if len(seen) > 1000 {
			c.t.Fatalf("%s: want %q, got %q...", c.name, prefix, seen[:20])
		}
		if final(l) {
			c.t.Fatalf("%s: want %q, got %q", c.name, prefix, seen)
		}
	}
}

// final: an SMTP final reply line, a POP3 status, a tagged IMAP reply.
func final(l string) bool {
	if len(l) >= 4 && l[3] == ' ' && l[0] >= '2' && l[0] <= '5' {
		return true
	}
	if strings.HasPrefix(l, "+OK") || strings.HasPrefix(l, "-ERR") {
		return true
	}
	f := strings.Fields(l)
	return len(f) >= 2 && f[0] != "*" && f[0] != "+" && (f[1] == "OK" || f[1] == "NO" || f[1] == "BAD")
}

func (c *conn) cmd(line, prefix string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(prefix)
}

// drain reads until the server closes the connection or stays quiet for
// d; it returns the lines and whether the connection was closed.
func (c *conn) drain(d time.Duration) ([]string, bool) {
	var got []string
	for {
		c.c.SetReadDeadline(time.Now().Add(d))
		l, err := c.r.ReadString('\n')
		if l != "" {
			got = append(got, strings.TrimRight(l, "\r\n"))
		}
		if err != nil {
			var ne net.Error
			timeout := false
			if ok := asNetErr(err, &ne); ok && ne.Timeout() {
				timeout = true
			}
			return got, !timeout
		}
		if len(got) > 10000 {
			return got, false
		}
	}
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// greet reads the greeting of a protocol.
func (c *conn) greet() {
	c.t.Helper()
	switch proto(c.name) {
	case "smtp":
		c.expect("220 ")
	case "imap":
		c.expect("* OK")
	case "pop3":
		c.expect("+OK")
	}
}

// proto maps a listener name to its protocol.
func proto(name string) string {
	switch {
	case strings.HasPrefix(name, "imap"):
		return "imap"
	case strings.HasPrefix(name, "pop3"):
		return "pop3"
	}
	return "smtp"
}

// starttls upgrades a plaintext connection with the protocol's command.
func (c *conn) starttls(e *testenv.Env) {
	c.t.Helper()
	switch proto(c.name) {
	case "smtp":
		c.cmd("EHLO client.test", "250 ")
		c.cmd("STARTTLS", "220")
	case "imap":
		c.cmd("S STARTTLS", "S OK")
	case "pop3":
		c.cmd("STLS", "+OK")
	}
	c.upgrade(e)
}

func (c *conn) upgrade(e *testenv.Env) {
	c.t.Helper()
	tc := tls.Client(c.c, e.ClientTLS)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("%s: TLS handshake: %v", c.name, err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// login logs in with the protocol's plain login (the connection is TLS).
func (c *conn) login(u, p string) string {
	c.t.Helper()
	switch proto(c.name) {
	case "smtp":
		c.cmd("EHLO client.test", "250 ")
		c.send("AUTH PLAIN " + b64("\x00"+u+"\x00"+p) + "\r\n")
		l, _ := c.line(60 * time.Second)
		return l
	case "imap":
		c.send(fmt.Sprintf("L LOGIN %q %q\r\n", u, p))
		for {
			l, ok := c.line(60 * time.Second)
			if !ok || strings.HasPrefix(l, "L ") {
				return l
			}
		}
	default:
		c.send("USER " + u + "\r\n")
		if l, _ := c.line(60 * time.Second); !strings.HasPrefix(l, "+OK") {
			return l
		}
		c.send("PASS " + p + "\r\n")
		l, _ := c.line(60 * time.Second)
		return l
	}
}

// loginOK reports whether a login reply is a success.
func loginOK(reply string) bool {
	return strings.HasPrefix(reply, "235") || strings.HasPrefix(reply, "L OK") || strings.HasPrefix(reply, "+OK")
}

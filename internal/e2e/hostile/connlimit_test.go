package hostile

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// handshakeTimeout is limits.tls_handshake_timeout in these tests.
const handshakeTimeout = 300 * time.Millisecond

// closedWithin reports whether the server closes c within d (a TLS alert
// or nothing may come first); it fails the test if c is still open.
func closedWithin(t *testing.T, name string, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("%s: still open after %v (read %q)", name, d, b)
	}
}

// Issue 19 item 4: a client that connects to an implicit-TLS port and never
// completes the handshake (sends nothing, or half a ClientHello) was held
// forever on 993 (and for minutes on 465 and 995). Every implicit-TLS
// listener closes it after limits.tls_handshake_timeout.
func TestTLSHandshakeDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.Limits.TLSHandshakeTimeout = config.Duration(handshakeTimeout) })
	hello := halfClientHello(t)
	for _, name := range []string{"submissions", "imaps", "pop3s", "https"} {
		for _, send := range []struct {
			what string
			b    []byte
		}{{"nothing", nil}, {"half a ClientHello", hello}} {
			t.Run(name+"/"+send.what, func(t *testing.T) {
				t.Parallel()
				c, err := net.DialTimeout("tcp", e.Addr[name], 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if send.b != nil {
					c.Write(send.b)
				}
				// Bounded: far beyond the deadline, far below the old
				// behaviour (forever, 5 minutes, 30 s, 10 s).
				closedWithin(t, name, c, 5*time.Second)
			})
		}
	}
	// The attack as found, scaled down: 100 silent connections to 993 from
	// 5 addresses (the per-address cap each). All are closed, and their
	// addresses are served again.
	t.Run("imaps/100 from 5 addresses", func(t *testing.T) {
		t.Parallel()
		var ips []string
		for range 5 {
			ips = append(ips, sourceIP())
		}
		var conns []net.Conn
		for i := range 100 {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ips[i%5])}}
			c, err := d.Dial("tcp", e.Addr["imaps"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		for i, c := range conns {
			closedWithin(t, fmt.Sprintf("silent connection %d", i), c, 5*time.Second)
		}
		for _, ip := range ips {
			testutil.WaitFor(t, 10*time.Second, "a client served from "+ip, func() bool {
				c, err := dialErr(e, "imaps", ip, nil)
				if err != nil {
					return false
				}
				defer c.c.Close()
				l, _ := c.line(5 * time.Second)
				return strings.HasPrefix(l, "* OK")
			})
		}
	})
	// A client that completes its handshake is served as before.
	for _, name := range []string{"submissions", "imaps", "pop3s"} {
		c := dial(t, e, name, "")
		c.greet()
		c.c.Close()
	}
}

// STARTTLS (STLS) followed by silence: the upgrade is bounded by the same
// deadline on SMTP and POP3. (IMAP's STARTTLS is bounded by the wire
// library's 30 s command read deadline.)
func TestSTARTTLSHandshakeDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.Limits.TLSHandshakeTimeout = config.Duration(handshakeTimeout) })
	for _, name := range []string{"smtp", "submission", "pop3"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, e, name, "")
			c.greet()
			switch proto(name) {
			case "smtp":
				c.cmd("EHLO client.test", "250 ")
				c.cmd("STARTTLS", "220")
			case "pop3":
				c.cmd("STLS", "+OK")
			}
			closedWithin(t, name, c.c, 5*time.Second)
		})
	}
}

// Issue 19 item 4: IMAP and POP3 had no cap on their connections in all.
// With limits.max_connections = N, the N+1th connection to any listener is
// refused with the protocol's own words (closed at once on implicit TLS),
// and a freed slot admits the next client.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	const max = 3
	e := newEnv(t, func(c *config.Config) {
		c.Limits.MaxConnections = max
		c.Limits.MaxConnectionsPerIP = max
	})
	for _, tt := range []struct {
		name, refusal string // "" : closed without a word
	}{
		{"smtp", "421 4.7.0"},
		{"submission", "421 4.7.0"},
		{"imap", "* BYE [UNAVAILABLE]"},
		{"pop3", "-ERR [SYS/TEMP]"},
		{"submissions", ""},
		{"imaps", ""},
		{"pop3s", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var held []*conn
			for range max {
				c := dial(t, e, tt.name, sourceIP()) // one address each: only the total counts
				c.greet()
				held = append(held, c)
			}
			over, err := dialErr(e, tt.name, sourceIP(), nil)
			if tt.refusal == "" {
				if err == nil {
					over.c.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, rerr := over.r.ReadByte(); rerr == nil {
						t.Fatalf("connection %d admitted over limits.max_connections = %d", max+1, max)
					}
					over.c.Close()
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				defer over.c.Close()
				over.t = t
				l, _ := over.line(5 * time.Second)
				if !strings.HasPrefix(l, tt.refusal) {
					t.Fatalf("connection %d: got %q, want %q", max+1, l, tt.refusal)
				}
				closedWithin(t, tt.name, over.c, 5*time.Second)
			}
			// A freed slot admits the next client (once the server has
			// seen the close).
			held[0].c.Close()
			testutil.WaitFor(t, 10*time.Second, "a connection admitted after a slot was freed", func() bool {
				c, err := dialErr(e, tt.name, sourceIP(), nil)
				if err != nil {
					return false
				}
				defer c.c.Close()
				l, _ := c.line(5 * time.Second)
				return strings.HasPrefix(l, "220 ") || strings.HasPrefix(l, "* OK") || strings.HasPrefix(l, "+OK")
			})
		})
	}
}

// IPv6 clients are counted per /64 on every listener (netlimit/TestCounter
// shows the /64 grouping with addresses loopback does not have); here, over
// ::1, the per-address cap holds on each protocol.
func TestMaxConnectionsPerAddressIPv6(t *testing.T) {
	t.Parallel()
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	const perAddr = 2
	e := newEnv(t, func(c *config.Config) {
		c.Limits.MaxConnectionsPerIP = perAddr
		for _, p := range []*string{&c.SMTP.Listen, &c.IMAP.Listen, &c.IMAP.ListenTLS, &c.POP3.Listen, &c.POP3.ListenTLS} {
			*p = "[::1]:0"
		}
	})
	for _, tt := range []struct{ name, refusal string }{
		{"smtp", "421 4.7.0"},
		{"imap", "* BYE [UNAVAILABLE]"},
		{"pop3", "-ERR [SYS/TEMP]"},
		{"imaps", ""},
		{"pop3s", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range perAddr {
				dial(t, e, tt.name, "").greet()
			}
			over, err := dialErr(e, tt.name, "", nil)
			if tt.refusal == "" {
				if err == nil {
					over.c.Close()
					t.Fatalf("TLS connection %d from ::1 admitted over a per-address cap of %d", perAddr+1, perAddr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer over.c.Close()
			if l, _ := over.line(5 * time.Second); !strings.HasPrefix(l, tt.refusal) {
				t.Fatalf("connection %d from ::1: got %q, want %q", perAddr+1, l, tt.refusal)
			}
		})
	}
}

package pop3server

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func capa(c *client) []string {
	c.t.Helper()
	return c.multi("CAPA")
}

// startTLS runs STLS on a client and returns the client over TLS.
func (c *client) startTLS(ts *testServer) *client {
	c.t.Helper()
	c.ok("STLS")
	tc := tls.Client(c.conn, clientTLS(c.t, ts.certPEM))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	return newClient(c.t, tc)
}

func TestCapaAndSTLS(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{})
	c := dial(t, ts.addr)
	got := capa(c)
	for _, w := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION kantorpos"} {
		if !slices.Contains(got, w) {
			t.Errorf("CAPA before TLS lacks %q: %q", w, got)
		}
	}
	if slices.Contains(got, "USER") || slices.Contains(got, "SASL PLAIN") {
		t.Errorf("CAPA before TLS offers passwords: %q", got)
	}
	// Security notes 1.7: no password before TLS.
	if l := c.cmd("USER alice@example.test"); !strings.HasPrefix(l, "-ERR [AUTH]") || !strings.Contains(l, "STLS") {
		t.Errorf("USER before TLS: %q", l)
	}
	if l := c.cmd("AUTH PLAIN %s", plainIR("alice@example.test", "alice-pw")); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("AUTH before TLS: %q", l)
	}
	if l := c.cmd("PASS alice-pw"); l != "-ERR Command not valid in this state" {
		t.Errorf("PASS before TLS: %q", l)
	}

	c = c.startTLS(ts)
	got = capa(c)
	if slices.Contains(got, "STLS") {
		t.Errorf("STLS offered inside TLS: %q", got)
	}
	if !slices.Contains(got, "USER") || !slices.Contains(got, "SASL PLAIN") {
		t.Errorf("CAPA inside TLS: %q", got)
	}
	if l := c.cmd("STLS"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("STLS inside TLS: %q", l)
	}
	c.login("alice@example.test")
	if got := capa(c); slices.Contains(got, "USER") || slices.Contains(got, "STLS") {
		t.Errorf("CAPA in TRANSACTION: %q", got)
	}
	c.ok("QUIT")
}

// TestSTLSInjection: commands sent in plaintext together with STLS are
// discarded, never answered inside TLS (security notes 1.3).
func TestSTLSInjection(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{})
	c := dial(t, ts.addr)
	if _, err := c.conn.Write([]byte("STLS\r\nCAPA\r\n")); err != nil {
		t.Fatal(err)
	}
	c.expectOK()
	tc := tls.Client(c.conn, clientTLS(t, ts.certPEM))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c = newClient(t, tc)
	// The first line inside TLS must answer NOOP, not the injected CAPA.
	if l := c.cmd("NOOP"); l != "-ERR Command not valid in this state" {
		t.Fatalf("first reply inside TLS = %q: the injected CAPA was run", l)
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{ImplicitTLS: true})
	c := dialTLS(t, ts)
	if got := capa(c); slices.Contains(got, "STLS") || !slices.Contains(got, "USER") {
		t.Errorf("CAPA on implicit TLS: %q", got)
	}
	ts.backend.add(1, "Subject: hi\r\n\r\nhello\r\n")
	c.login("alice@example.test")
	if l := c.ok("STAT"); l != "+OK 1 22" {
		t.Errorf("STAT = %q", l)
	}
	c.ok("QUIT")
}

func TestALPN(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{ImplicitTLS: true})
	for proto, wantOK := range map[string]bool{"pop3": true, "http/1.1": false} {
		cfg := clientTLS(t, ts.certPEM)
		cfg.NextProtos = []string{proto}
		c, err := tls.Dial("tcp", ts.addr, cfg)
		if (err == nil) != wantOK {
			t.Errorf("ALPN %s: err = %v, want ok %v", proto, err, wantOK)
		}
		if c != nil {
			c.Close()
		}
	}
}

// A client that stops half-way through the TLS handshake (slowloris on
// port 995) is dropped after HandshakeTimeout.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{ImplicitTLS: true, HandshakeTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first bytes of a TLS record header and ClientHello, then nothing.
	c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00})
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %v, HandshakeTimeout is 300ms", d)
	}
}

package hostile

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// STARTTLS command injection (security.md 1.3, CVE-2011-0411): a command
// pipelined in plaintext after STARTTLS must not run inside TLS. The
// command-injection-tester pattern on SMTP (25, 587), IMAP and POP3.
func TestSTARTTLSInjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tests := []struct {
		name     string
		before   string // plaintext before the injection
		inject   string // STARTTLS + an injected command, one write
		ready    string // the server's go-ahead
		probe    string // a command sent inside TLS afterwards
		probeOK  string // its reply
		injected string // a reply that would answer the injected command
	}{
		{"smtp", "EHLO x\r\n", "STARTTLS\r\nEHLO commandinjectiontester\r\n", "220", "NOOP\r\n", "250", "250"},
		{"submission", "EHLO x\r\n", "STARTTLS\r\nEHLO commandinjectiontester\r\n", "220", "NOOP\r\n", "250", "250"},
		{"imap", "", "A STARTTLS\r\nXYZAB NOOP\r\n", "A OK", "P NOOP\r\n", "P OK", "XYZAB"},
		{"pop3", "", "STLS\r\nCAPA\r\n", "+OK", "NOOP\r\n", "-ERR", "+OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, e, tt.name, "")
			c.greet()
			if tt.before != "" {
				c.send(tt.before)
				c.expect("250 ")
			}
			c.send(tt.inject)
			c.expect(tt.ready)
			tc := tls.Client(c.c, e.ClientTLS)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				// Refusing TLS with data in the way (closing) is a defence too.
				t.Logf("handshake after injection: %v (the server dropped the connection)", err)
				return
			}
			c.c, c.r = tc, bufio.NewReader(tc)
			// Inside TLS: nothing may arrive unasked (the answer to the
			// injected command).
			if l, ok := c.line(500 * time.Millisecond); ok || l != "" {
				t.Fatalf("unasked reply inside TLS: %q (the injected command ran)", l)
			}
			c.send(tt.probe)
			l := c.expect(tt.probeOK)
			if tt.name == "imap" && strings.HasPrefix(l, tt.injected) {
				t.Fatalf("injected command answered: %q", l)
			}
			if tt.name == "pop3" {
				// In AUTHORIZATION NOOP is not allowed; a CAPA answer
				// would have come first.
				c.send("CAPA\r\n")
				c.expect("+OK")
				caps, _ := c.drain(300 * time.Millisecond)
				for _, cp := range caps {
					if cp == "STLS" {
						t.Errorf("STLS offered again inside TLS")
					}
				}
			}
			if proto(tt.name) == "smtp" {
				// RFC 3207 4.2: the pre-TLS EHLO is forgotten, STARTTLS
				// is not offered again.
				c.send("EHLO client.test\r\n")
				for {
					l, ok := c.line(10 * time.Second)
					if !ok {
						t.Fatal("EHLO after TLS: closed")
					}
					if strings.Contains(l, "STARTTLS") {
						t.Errorf("STARTTLS offered again: %q", l)
					}
					if strings.HasPrefix(l, "250 ") {
						break
					}
				}
				c.cmd("STARTTLS", "5")
			}
		})
	}
}

// AUTH before TLS (security.md 1.7): no plaintext password mechanism on
// any protocol before TLS; port 25 offers no AUTH at all.
func TestAuthBeforeTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	plain := "AUTH PLAIN " + b64("\x00"+user+"\x00"+password)
	t.Run("smtp-mx", func(t *testing.T) {
		c := dial(t, e, "smtp", "")
		c.greet()
		c.send("EHLO client.test\r\n")
		for {
			l, _ := c.line(10 * time.Second)
			if strings.Contains(l, "AUTH") {
				t.Errorf("port 25 offers %q", l)
			}
			if strings.HasPrefix(l, "250 ") || l == "" {
				break
			}
		}
		if l := c.cmd(plain, ""); !strings.HasPrefix(l, "5") {
			t.Errorf("AUTH on port 25: %q, want 5xx", l)
		}
	})
	t.Run("submission", func(t *testing.T) {
		c := dial(t, e, "submission", "")
		c.greet()
		c.send("EHLO client.test\r\n")
		for {
			l, _ := c.line(10 * time.Second)
			if strings.Contains(l, "AUTH") && (strings.Contains(l, "PLAIN") || strings.Contains(l, "LOGIN")) {
				t.Errorf("587 before STARTTLS offers %q", l)
			}
			if strings.HasPrefix(l, "250 ") || l == "" {
				break
			}
		}
		for _, cmd := range []string{plain, "AUTH LOGIN", "AUTH PLAIN"} {
			if l := c.cmd(cmd, ""); !strings.HasPrefix(l, "530") && !strings.HasPrefix(l, "538") && !strings.HasPrefix(l, "502") && !strings.HasPrefix(l, "503") {
				t.Errorf("%s before STARTTLS: %q, want 530/538", strings.Fields(cmd)[1], l)
			}
		}
	})
	t.Run("imap", func(t *testing.T) {
		c := dial(t, e, "imap", "")
		c.greet()
		c.send("C CAPABILITY\r\n")
		caps := c.expect("* CAPABILITY")
		if !strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "AUTH=PLAIN") {
			t.Errorf("CAPABILITY before STARTTLS: %q, want LOGINDISABLED and no AUTH=PLAIN", caps)
		}
		c.expect("C OK")
		if l := c.cmd(`L LOGIN "`+user+`" "`+password+`"`, "L "); strings.HasPrefix(l, "L OK") {
			t.Errorf("LOGIN before STARTTLS: %q", l)
		}
		if l := c.cmd("A AUTHENTICATE PLAIN "+b64("\x00"+user+"\x00"+password), "A "); strings.HasPrefix(l, "A OK") {
			t.Errorf("AUTHENTICATE before STARTTLS: %q", l)
		}
	})
	t.Run("pop3", func(t *testing.T) {
		c := dial(t, e, "pop3", "")
		c.greet()
		c.send("CAPA\r\n")
		c.expect("+OK")
		caps, _ := c.drain(300 * time.Millisecond)
		for _, cp := range caps {
			if cp == "USER" || strings.Contains(cp, "PLAIN") {
				t.Errorf("CAPA before STLS offers %q", cp)
			}
		}
		if l := c.cmd("USER "+user, ""); !strings.HasPrefix(l, "-ERR") {
			t.Errorf("USER before STLS: %q, want -ERR", l)
		}
		if l := c.cmd(plain, ""); !strings.HasPrefix(l, "-ERR") {
			t.Errorf("AUTH PLAIN before STLS: %q, want -ERR", l)
		}
	})
}

// Cross-protocol (ALPACA, security.md 1.4): an HTTP request to a mail port
// gets errors and a closed connection, on plaintext and TLS ports.
func TestHTTPToMailPorts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, name := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, e, name, "")
			c.greet()
			c.sendMaybe("GET / HTTP/1.1\r\nHost: mail.example.test\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n")
			got, closed := c.drain(5 * time.Second)
			if !closed {
				t.Errorf("connection still open 5s after an HTTP request; replies %q", got)
			}
			// On plaintext ports the request is recognised at once. On
			// TLS ports a browser cannot get here (ALPN, TestALPN): the
			// protocol's error limit closes the connection.
			if !strings.HasSuffix(name, "s") && len(got) > 2 {
				t.Errorf("%d error replies before closing, want at most 2: %q", len(got), got)
			}
			for _, l := range got {
				if strings.HasPrefix(l, "2") || strings.HasPrefix(l, "+OK") || strings.Contains(l, " OK ") {
					t.Errorf("positive reply to HTTP: %q", l)
				}
			}
			t.Logf("%s: %q closed=%v", name, got, closed)
		})
	}
}

// ALPN (security.md 1.4): TLS ports refuse a foreign protocol and accept
// their own or none.
func TestALPN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for name, own := range map[string]string{"submissions": "smtp", "imaps": "imap", "pop3s": "pop3"} {
		for _, alpn := range []string{"http/1.1", "h2", "imap", "smtp", "pop3"} {
			c, err := dialErr(e, name, "", []string{alpn})
			if c != nil {
				c.c.Close()
			}
			if alpn == own && err != nil {
				t.Errorf("%s with ALPN %s: %v", name, alpn, err)
			}
			if alpn != own && err == nil {
				t.Errorf("%s accepted ALPN %s", name, alpn)
			}
		}
		c, err := dialErr(e, name, "", nil)
		if err != nil {
			t.Errorf("%s without ALPN: %v", name, err)
		} else {
			if p := c.c.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "" {
				t.Errorf("%s negotiated %q without ALPN", name, p)
			}
			c.c.Close()
		}
	}
}

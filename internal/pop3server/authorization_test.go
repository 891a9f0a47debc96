package pop3server

import (
	"encoding/base64"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
)

func TestInsecureAuthAllowed(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	c := dial(t, ts.addr)
	if got := capa(c); !slices.Contains(got, "USER") || !slices.Contains(got, "STLS") {
		t.Errorf("CAPA: %q", got)
	}
	// PASS takes the rest of the line: passwords may contain spaces.
	c.login("bob@example.test")
	c.ok("QUIT")
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestAuthPlain(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true, MaxAuthFailures: 100})
	tests := []struct {
		name  string
		lines []string // client lines after the greeting
		want  []string // reply prefixes, one per line
	}{
		{"initial response", []string{"AUTH PLAIN " + plainIR("alice@example.test", "alice-pw")}, []string{"+OK Logged in"}},
		{"lower case", []string{"auth plain " + plainIR("ALICE@example.test", "alice-pw")}, []string{"+OK Logged in"}},
		{"continuation", []string{"AUTH PLAIN", plainIR("alice@example.test", "alice-pw")}, []string{"+ ", "+OK Logged in"}},
		{"authzid same", []string{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("alice@example.test\x00alice@example.test\x00alice-pw"))}, []string{"+OK"}},
		{"authzid other", []string{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("bob@example.test\x00alice@example.test\x00alice-pw"))}, []string{"-ERR [AUTH]"}},
		{"cancel", []string{"AUTH PLAIN", "*"}, []string{"+ ", "-ERR Authentication cancelled"}},
		{"empty", []string{"AUTH PLAIN ="}, []string{"-ERR [AUTH]"}},
		{"empty continuation", []string{"AUTH PLAIN", "="}, []string{"+ ", "-ERR [AUTH]"}},
		{"bad base64", []string{"AUTH PLAIN =AAA"}, []string{"-ERR [AUTH]"}},
		{"wrong password", []string{"AUTH PLAIN " + plainIR("alice@example.test", "nope")}, []string{"-ERR [AUTH] Authentication failed"}},
		{"unknown user", []string{"AUTH PLAIN " + plainIR("eve@example.test", "nope")}, []string{"-ERR [AUTH] Authentication failed"}},
		{"two fields", []string{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("alice@example.test\x00alice-pw"))}, []string{"-ERR [AUTH]"}},
		{"list", []string{"AUTH"}, []string{"+OK"}},
		{"login mech", []string{"AUTH LOGIN"}, []string{"-ERR Unsupported"}},
		{"temporary", []string{"AUTH PLAIN " + plainIR("tempfail@example.test", "x")}, []string{"-ERR [SYS/TEMP]"}},
		{"user temporary", []string{"USER tempfail@example.test", "PASS x"}, []string{"+OK", "-ERR [SYS/TEMP]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			for i, l := range tt.lines {
				if got := c.cmd("%s", l); !strings.HasPrefix(got, tt.want[i]) {
					t.Fatalf("%q: got %q, want %q", l, got, tt.want[i])
				}
			}
			c.cmd("QUIT")
		})
	}
}

func TestAuthFailuresCloseConnection(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true, MaxAuthFailures: 2})
	c := dial(t, ts.addr)
	c.ok("USER alice@example.test")
	if l := c.cmd("PASS wrong"); l != "-ERR [AUTH] Authentication failed" {
		t.Fatalf("PASS wrong: %q", l)
	}
	// PASS needs a new USER.
	if l := c.cmd("PASS alice-pw"); l != "-ERR Command not valid in this state" {
		t.Fatalf("PASS without USER: %q", l)
	}
	c.ok("USER alice@example.test")
	if l := c.cmd("PASS wrong again"); l != "-ERR [AUTH] Authentication failed" {
		t.Fatalf("second failure: %q", l)
	}
	c.expectClosed()
}

// TestBruteForce: failed logins from one address are slowed, then
// refused, across connections (auth.Limiter); another address still gets
// in (security notes 1.9).
func TestBruteForce(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.auth.Limiter = auth.NewLimiter(auth.LimiterConfig{FreeFailures: 2, BaseDelay: time.Millisecond, MaxDelay: 8 * time.Millisecond, MaxFailures: 6, Window: time.Hour}, nil)
	for i := range 6 {
		c := dial(t, ts.addr)
		c.ok("USER alice@example.test")
		if l := c.cmd("PASS guess%d", i); l != "-ERR [AUTH] Authentication failed" {
			t.Fatalf("attempt %d: %q", i, l)
		}
		c.conn.Close()
	}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond}
	if got := ts.auth.slept(); !slices.Equal(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	c := dial(t, ts.addr)
	c.ok("USER alice@example.test")
	if l := c.cmd("PASS alice-pw"); l != "-ERR [AUTH] Too many failed logins, try again later" {
		t.Fatalf("after too many failures: %q", l)
	}
	c.expectClosed()

	// Another address (127.0.0.2 is loopback on Linux) is not locked out.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	c = newClient(t, conn)
	c.expectOK()
	c.login("alice@example.test")
	c.ok("QUIT")
}

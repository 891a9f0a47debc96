package pop3server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
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

func TestMaildropInUse(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "Subject: a\r\n\r\na\r\n")
	c1 := dial(t, ts.addr)
	c1.login("alice@example.test")
	c2 := dial(t, ts.addr)
	c2.ok("USER alice@example.test")
	if l := c2.cmd("PASS alice-pw"); l != "-ERR [IN-USE] Maildrop already locked by another session" {
		t.Fatalf("second session: %q", l)
	}
	// Another account is not affected.
	c3 := dial(t, ts.addr)
	c3.login("bob@example.test")
	// The first session drops without QUIT: the lock goes with it.
	c1.conn.Close()
	waitFor(t, "lock release", func() bool { return !ts.backend.locked(1) })
	c2.ok("USER alice@example.test")
	c2.ok("PASS alice-pw")
	c2.ok("QUIT")
	if ts.backend.locked(1) {
		t.Fatal("lock held after QUIT")
	}
}

// TestSnapshot: mail arriving during a session waits for the next one.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "Subject: 1\r\n\r\n1\r\n")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	ts.backend.add(1, "Subject: 2\r\n\r\n2\r\n")
	if l := c.ok("STAT"); l != "+OK 1 17" {
		t.Fatalf("STAT = %q", l)
	}
	if got := c.multi("LIST"); len(got) != 1 {
		t.Fatalf("LIST = %q", got)
	}
	if l := c.cmd("RETR 2"); l != "-ERR No such message" {
		t.Fatalf("RETR 2 = %q", l)
	}
	c.ok("QUIT")
	c = dial(t, ts.addr)
	c.login("alice@example.test")
	if l := c.ok("STAT"); l != "+OK 2 34" {
		t.Fatalf("next session STAT = %q", l)
	}
}

func TestDeleteNeedsQuit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	for i := range 3 {
		ts.backend.add(1, "Subject: m\r\n\r\nbody\r\n")
		_ = i
	}
	// DELE, then the connection drops: nothing is deleted.
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.ok("DELE 2")
	c.conn.Close()
	waitFor(t, "session end", func() bool { return !ts.backend.locked(1) })
	if ts.backend.deleteCalls() != 0 || len(ts.backend.uids(1)) != 3 {
		t.Fatalf("dropped session deleted: %v", ts.backend.uids(1))
	}
	// DELE, RSET, DELE, QUIT: exactly the last marks are removed, once.
	c = dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.ok("RSET")
	c.ok("DELE 2")
	c.ok("DELE 3")
	if l := c.ok("QUIT"); l != "+OK Bye, 1 messages left" {
		t.Fatalf("QUIT = %q", l)
	}
	c.expectClosed()
	if got := ts.backend.uids(1); !slices.Equal(got, []uint32{1}) || ts.backend.deleteCalls() != 1 {
		t.Fatalf("after QUIT: %v, %d calls", got, ts.backend.deleteCalls())
	}
}

func TestDeleteFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "x\r\n")
	ts.backend.failDel = store.ErrUnavailable
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	if l := c.cmd("QUIT"); l != "-ERR [SYS/TEMP] Some deleted messages not removed" {
		t.Fatalf("QUIT = %q", l)
	}
	c.expectClosed()
	if len(ts.backend.uids(1)) != 1 || ts.backend.locked(1) {
		t.Fatal("message gone or lock held")
	}
}

func TestUIDLStable(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	for range 3 {
		ts.backend.add(1, "Subject: m\r\n\r\nbody\r\n")
	}
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	first := c.multi("UIDL")
	if len(first) != 3 || first[0] != "1 000000016553F101" {
		t.Fatalf("UIDL = %q", first)
	}
	if l := c.ok("UIDL 3"); l != "+OK "+first[2] {
		t.Fatalf("UIDL 3 = %q, want %q", l, first[2])
	}
	c.ok("DELE 1")
	if got := c.multi("UIDL"); len(got) != 2 || got[0] != first[1] {
		t.Fatalf("UIDL after DELE = %q", got)
	}
	c.ok("QUIT")
	// The next session numbers messages afresh; their UIDLs stay.
	c = dial(t, ts.addr)
	c.login("alice@example.test")
	got := c.multi("UIDL")
	want := []string{"1 " + strings.Fields(first[1])[1], "2 " + strings.Fields(first[2])[1]}
	if !slices.Equal(got, want) {
		t.Fatalf("UIDL next session = %q, want %q", got, want)
	}
}

func TestRetrByteStuffing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	msg := "Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\nmid.dle\r\n"
	ts.backend.add(1, msg)
	ts.backend.add(1, "Subject: lf\n\nbare\nlf\n.dot")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	if l := c.ok("RETR 1"); l != "+OK 44 octets" {
		t.Fatalf("RETR = %q", l)
	}
	if got, want := c.raw(), []string{"Subject: dots", "", "..", "...two", "..three", "mid.dle"}; !slices.Equal(got, want) {
		t.Fatalf("raw RETR = %q, want %q", got, want)
	}
	if got := c.multi("RETR 1"); strings.Join(got, "\r\n")+"\r\n" != msg {
		t.Fatalf("unstuffed RETR = %q", got)
	}
	c.ok("RETR 2")
	if got, want := c.raw(), []string{"Subject: lf", "", "bare", "lf", "..dot"}; !slices.Equal(got, want) {
		t.Fatalf("bare LF message = %q, want %q", got, want)
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "From: a@b\r\nSubject: top\r\n\r\nl1\r\n.l2\r\nl3\r\n")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	for n, want := range map[int][]string{
		0:   {"From: a@b", "Subject: top", ""},
		2:   {"From: a@b", "Subject: top", "", "l1", ".l2"},
		100: {"From: a@b", "Subject: top", "", "l1", ".l2", "l3"},
	} {
		if got := c.multi("TOP 1 %d", n); !slices.Equal(got, want) {
			t.Errorf("TOP 1 %d = %q, want %q", n, got, want)
		}
	}
	c.ok("QUIT")
	if slices.Contains(ts.backend.flags(1, 1), store.FlagSeen) {
		t.Error("TOP marked the message \\Seen")
	}
}

func TestRetrMarksSeen(t *testing.T) {
	t.Parallel()
	for _, noFlags := range []bool{false, true} {
		ts := startServer(t, Config{AllowInsecureAuth: true, NoFlagUpdates: noFlags})
		for range 3 {
			ts.backend.add(1, "x\r\n")
		}
		c := dial(t, ts.addr)
		c.login("alice@example.test")
		c.multi("RETR 1")
		c.multi("RETR 2")
		c.ok("DELE 2")
		c.ok("QUIT")
		if got := slices.Contains(ts.backend.flags(1, 1), store.FlagSeen); got == noFlags {
			t.Errorf("NoFlagUpdates=%v: message 1 \\Seen = %v", noFlags, got)
		}
		if slices.Contains(ts.backend.flags(1, 3), store.FlagSeen) {
			t.Error("message 3 was not retrieved but is \\Seen")
		}
	}
}

func TestOpenFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "x\r\n")
	ts.backend.failOpen = store.ErrUnavailable
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	if l := c.cmd("RETR 1"); l != "-ERR [SYS/TEMP] Unable to read message, try again later" {
		t.Fatalf("RETR = %q", l)
	}
	ts.backend.mu.Lock()
	ts.backend.failOpen = store.ErrNotFound
	ts.backend.mu.Unlock()
	if l := c.cmd("TOP 1 0"); l != "-ERR Message no longer available" {
		t.Fatalf("TOP = %q", l)
	}
	c.ok("NOOP")
}

func TestLineTooLong(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{MaxLineLength: 255})
	c := dial(t, ts.addr)
	// RFC 2449 4: 255 octets including CRLF are fine.
	if l := c.cmd("USER %s", strings.Repeat("u", 255-len("USER \r\n"))); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf("255-octet line: %q", l)
	}
	if l := c.cmd("USER %s", strings.Repeat("u", 256)); l != "-ERR Line too long" {
		t.Fatalf("long line: %q", l)
	}
	c.expectClosed()
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "Subject: p\r\n\r\n.x\r\n")
	c := dial(t, ts.addr)
	if _, err := c.conn.Write([]byte("CAPA\r\nUSER alice@example.test\r\nPASS alice-pw\r\nSTAT\r\nRETR 1\nLIST 1\r\nBOGUS\r\nDELE 1\r\nQUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	capa := c.raw()
	if capa[0] != "+OK Capability list follows" {
		t.Fatalf("CAPA: %q", capa)
	}
	for _, want := range []string{"+OK Send your password", "+OK Logged in, 1 messages (18 octets)", "+OK 1 18", "+OK 18 octets"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	if got := c.raw(); !slices.Equal(got, []string{"Subject: p", "", "..x"}) {
		t.Fatalf("RETR: %q", got)
	}
	for _, want := range []string{"+OK 1 18", "-ERR Unknown command", "+OK Message 1 deleted", "+OK Bye, 0 messages left"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	c.expectClosed()
}

func TestBadCommandsClose(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{MaxBadCommands: 3})
	c := dial(t, ts.addr)
	for range 2 {
		if l := c.cmd("GET / HTTP/1.1"); l != "-ERR Unknown command" {
			t.Fatal(l)
		}
	}
	if l := c.cmd("STAT"); l != "-ERR Command not valid in this state" {
		t.Fatal(l)
	}
	c.expectClosed()
}

func TestAutologout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true, Autologout: 100 * time.Millisecond})
	ts.backend.add(1, "x\r\n")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.expectClosed()
	waitFor(t, "session end", func() bool { return !ts.backend.locked(1) })
	if ts.backend.deleteCalls() != 0 {
		t.Fatal("autologout deleted")
	}
}

func TestConnsPerIP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{MaxConnsPerIP: 2})
	c1 := dial(t, ts.addr)
	dial(t, ts.addr)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c3 := newClient(t, conn)
	if l := c3.line(); l != "-ERR [SYS/TEMP] Too many connections from your address" {
		t.Fatalf("third connection: %q", l)
	}
	c3.expectClosed()
	c1.ok("QUIT")
	c1.expectClosed()
	// A slot is free again once the server has seen the close.
	waitFor(t, "slot", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.perIP[localIP] == 1
	})
	dial(t, ts.addr).ok("QUIT")
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "x\r\n")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if l := c.line(); l != "-ERR [SYS/TEMP] Server shutting down, try again later" {
		t.Fatalf("got %q", l)
	}
	c.expectClosed()
	if ts.backend.deleteCalls() != 0 || ts.backend.locked(1) {
		t.Fatal("shutdown deleted or kept the lock")
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// panicBackend panics when account 2 logs in.
type panicBackend struct{ *memBackend }

func (p panicBackend) LockMaildrop(ctx context.Context, accountID int64) (func(), error) {
	if accountID == 2 {
		panic("boom")
	}
	return p.memBackend.LockMaildrop(ctx, accountID)
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true}, func(s *Server) { s.Backend = panicBackend{s.Backend.(*memBackend)} })
	other := dial(t, ts.addr)
	other.login("alice@example.test")
	c := dial(t, ts.addr)
	c.ok("USER bob@example.test")
	c.send("PASS %s", testUsers["bob@example.test"])
	c.expectClosed()
	other.ok("NOOP")
	dial(t, ts.addr).ok("CAPA")
	other.ok("QUIT")
}

func TestServeAfterShutdown(t *testing.T) {
	t.Parallel()
	srv := &Server{Backend: newMemBackend(), Auth: newTestAuth(t, authNoLimit, nil)}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
}

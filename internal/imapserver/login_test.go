package imapserver

import (
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Plaintext, before STARTTLS: no AUTH=, LOGINDISABLED, STARTTLS offered.
	p := e.rawPlain(t)
	u := p.ok("CAPABILITY")
	t.Logf("plain, before TLS: %s", u[0])
	if !strings.Contains(u[0], "STARTTLS") || !strings.Contains(u[0], "LOGINDISABLED") || strings.Contains(u[0], "AUTH=") {
		t.Fatalf("plaintext capabilities: %s", u[0])
	}
	// LOGIN before TLS is refused (RFC 9051 6.2.3).
	if _, tagged := p.cmd("LOGIN " + testUser + ` "` + testPass + `"`); !strings.HasPrefix(tagged, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("LOGIN before TLS: %s", tagged)
	}
	if _, tagged := p.cmd("AUTHENTICATE PLAIN " + b64("\x00"+testUser+"\x00"+testPass)); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("AUTHENTICATE before TLS: %s", tagged)
	}

	// Over TLS, before and after login.
	r := e.rawTLS(t)
	before := r.ok("CAPABILITY")[0]
	t.Logf("TLS, before login: %s", before)
	for _, want := range []string{"IMAP4rev2", "IMAP4rev1", "AUTH=PLAIN", "SASL-IR"} {
		if !strings.Contains(before, want) {
			t.Errorf("before login: missing %s in %s", want, before)
		}
	}
	if strings.Contains(before, "STARTTLS") || strings.Contains(before, "LOGINDISABLED") {
		t.Errorf("before login over TLS: %s", before)
	}
	r.login()
	after := r.ok("CAPABILITY")[0]
	t.Logf("TLS, after login: %s", after)
	for _, want := range []string{"IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "SEARCHRES", "LITERAL+", "UNSELECT", "ENABLE", "BINARY",
		"STATUS=SIZE", "APPENDLIMIT=52428800", "CHILDREN"} {
		if !strings.Contains(after, " "+want) {
			t.Errorf("after login: missing %s in %s", want, after)
		}
	}
}

func TestLoginStartTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.rawPlain(t)
	p.ok("STARTTLS")
	tc := tls.Client(p.conn, e.tlsClient)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r := &raw{t: t, conn: tc, r: newReader(tc)}
	caps := r.ok("CAPABILITY")[0]
	if strings.Contains(caps, "STARTTLS") || !strings.Contains(caps, "AUTH=PLAIN") {
		t.Fatalf("after STARTTLS: %s", caps)
	}
	r.login()
	r.ok("SELECT INBOX")
	r.ok("LOGOUT")
	tc.Close()
	// The per-IP slot is released through the TLS layer.
	waitFor(t, func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return len(e.srv.perIP) == 0
	})
}

// Plaintext sent after STARTTLS in the same packet must not run inside TLS
// (CVE-2011-0411 class).
func TestStartTLSInjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.rawPlain(t)
	p.write("a STARTTLS\r\nb NOOP\r\n")
	if l := p.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(p.conn, e.tlsClient)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	err := tc.Handshake()
	if err == nil {
		// The handshake must not succeed with the injected bytes in the way;
		// if it somehow did, b must not be answered.
		r := &raw{t: t, conn: tc, r: newReader(tc)}
		tc.SetReadDeadline(time.Now().Add(time.Second))
		if l, rerr := r.r.ReadString('\n'); rerr == nil && strings.HasPrefix(l, "b ") {
			t.Fatalf("injected command answered inside TLS: %q", l)
		}
	}
	// The server keeps serving others.
	e.rawTLS(t).login()
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t)
	for i := 1; i <= 3; i++ {
		_, tagged := r.cmd("LOGIN " + testUser + " wrong-password")
		if !strings.HasPrefix(tagged, "NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("attempt %d: %s", i, tagged)
		}
	}
	// After MaxLoginFailures (3) the server says BYE and closes.
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, _ := r.r.ReadString('\n')
	if !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after 3 failures: %q", l)
	}
	// Unknown user: the same answer.
	r2 := e.rawTLS(t)
	if _, tagged := r2.cmd(`LOGIN nobody@example.test "x"`); !strings.HasPrefix(tagged, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("unknown user: %s", tagged)
	}
	// Path-like user names are just unknown users.
	if _, tagged := r2.cmd(`LOGIN "../victim" pw`); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("../victim: %s", tagged)
	}
	// NUL in a quoted string.
	if _, tagged := r2.cmd("LOGIN \"us\x00er\" pw"); strings.HasPrefix(tagged, "OK") {
		t.Fatalf("NUL user: %s", tagged)
	}
}

func TestAuthenticatePlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// SASL-IR.
	r := e.rawTLS(t)
	r.ok("AUTHENTICATE PLAIN " + b64("\x00"+testUser+"\x00"+testPass))
	r.ok("SELECT INBOX")
	// Without initial response: an empty challenge first.
	r2 := e.rawTLS(t)
	r2.write("a AUTHENTICATE PLAIN\r\n")
	if l := r2.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("challenge: %q", l)
	}
	r2.write(b64(testUser+"\x00"+testUser+"\x00"+testPass) + "\r\n")
	if l := r2.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("authenticate: %q", l)
	}
	// Another authorization identity is refused (RFC 4616 2).
	r3 := e.rawTLS(t)
	if _, tagged := r3.cmd("AUTHENTICATE PLAIN " + b64("bob@example.test\x00"+testUser+"\x00"+testPass)); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("authzid impersonation: %s", tagged)
	}
	if _, tagged := r3.cmd("AUTHENTICATE PLAIN " + b64("\x00\x00pw")); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("empty authcid: %s", tagged)
	}
	// The go-imap client's SASL PLAIN.
	c := e.dial(t, nil)
	if err := c.Authenticate(sasl.NewPlainClient("", testUser, testPass)); err != nil {
		t.Fatal(err)
	}
	// LOGIN mechanism.
	r4 := e.rawTLS(t)
	r4.write("a AUTHENTICATE LOGIN\r\n")
	r4.line()
	r4.write(b64(testUser) + "\r\n")
	r4.line()
	r4.write(b64(testPass) + "\r\n")
	if l := r4.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("AUTH LOGIN: %q", l)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxConnsPerIP = 3; c.MaxConnsPerAccount = 2 })
	a, b := e.rawTLS(t).login(), e.rawTLS(t)
	// Third session of the account is refused at login.
	if _, tagged := b.cmd("LOGIN " + testUser + ` "` + testPass + `"`); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("second session: %s", tagged)
	}
	c := e.rawTLS(t)
	if _, tagged := c.cmd("LOGIN " + testUser + ` "` + testPass + `"`); !strings.HasPrefix(tagged, "NO [UNAVAILABLE]") {
		t.Fatalf("third session of the account: %s", tagged)
	}
	// Fourth connection from the address: BYE at once.
	conn, err := tls.Dial("tcp", e.tlsAddr, e.tlsClient)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, _ := newReader(conn).ReadString('\n')
	if !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("over the per-IP cap: %q", l)
	}
	// Logging out frees the slots.
	a.ok("LOGOUT")
	a.conn.Close()
	waitFor(t, func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.perAccount[e.account.ID] == 1
	})
	c.login()
}

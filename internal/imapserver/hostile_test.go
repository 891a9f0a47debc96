package imapserver

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// Hostile input gets NO, BAD or BYE (or, at worst, the command timeout),
// never a "+" for an oversized literal, never a crash; the server goes on
// serving other clients.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		login  bool
		chunks []string
		check  func(got []string) bool
	}{
		{"huge synchronizing literal before login", false, []string{"a LOGIN {4294967295}\r\n"}, noContinuation},
		{"huge synchronizing literal after login", true, []string{"a SELECT {4294967295}\r\n"}, noContinuation},
		{"huge non-synchronizing literal before login", false,
			[]string{"a LOGIN {99999999+}\r\n", strings.Repeat("x", 1<<20)}, refusedOrClosed},
		{"huge non-synchronizing literal after login", true,
			[]string{"a SELECT {99999999+}\r\n", strings.Repeat("x\r\n", 1<<18)}, refusedOrClosed},
		{"APPEND over the limit with LITERAL+", true,
			[]string{"a APPEND INBOX {99999999+}\r\n", strings.Repeat("x\r\n", 1<<18)}, func(g []string) bool { return contains(g, "a NO [TOOBIG]") }},
		{"10 MB line without CRLF", true, []string{strings.Repeat("a", 10<<20)}, refusedOrClosed},
		{"10 MB line before login", false, []string{strings.Repeat("a", 10<<20)}, refusedOrClosed},
		{"nested ID before login", false, []string{"a ID " + strings.Repeat("(", 100000) + "\r\n"}, func(g []string) bool { return contains(g, "BYE") }},
		{"nested SEARCH", true, []string{"a SELECT INBOX\r\nb SEARCH " + strings.Repeat("(", 20000) + "\r\n"}, func(g []string) bool { return contains(g, "b NO") || contains(g, "b BAD") }},
		{"NUL in quoted string", false, []string{"a LOGIN \"us\x00er\" pw\r\n"}, func(g []string) bool { return !contains(g, "a OK") }},
		{"HTTP request (ALPACA)", false, []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, func(g []string) bool { return contains(g, "BYE") }},
		{"CREATE ../../tmp/pwn", true, []string{`a CREATE "../../tmp/pwn"` + "\r\n"}, func(g []string) bool { return contains(g, "a NO") }},
		{"CREATE modified UTF-7 dots", true, []string{`a CREATE "&AC4ALg-/x"` + "\r\n"}, func(g []string) bool { return contains(g, "a NO") }},
		{"invalid modified UTF-7", true, []string{`a CREATE "&Jjo"` + "\r\n"}, func(g []string) bool { return !contains(g, "a OK") }},
	}
	for _, tt := range tests {
		r := e.rawTLS(t)
		if tt.login {
			r.login()
		}
		for _, c := range tt.chunks {
			r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := r.conn.Write([]byte(c)); err != nil {
				break // the server closed on us: fine
			}
		}
		var got []string
		for len(got) < 20 {
			r.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			l, err := r.r.ReadString('\n')
			if l != "" {
				got = append(got, strings.TrimSpace(l))
			}
			if err != nil {
				got = append(got, "<closed or quiet>")
				break
			}
		}
		if !tt.check(got) {
			t.Errorf("%s: %q", tt.name, got)
		}
		r.conn.Close()
	}
	// Still serving.
	e.rawTLS(t).login().ok("SELECT INBOX")
}

func noContinuation(got []string) bool {
	for _, l := range got {
		if strings.HasPrefix(l, "+") {
			return false
		}
	}
	return true
}

func refusedOrClosed(got []string) bool {
	return noContinuation(got) && !contains(got, " OK ") || contains(got, "<closed or quiet>")
}

// TLS offers only the "imap" ALPN protocol (cross-protocol attacks).
func TestALPN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.tlsClient.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if c, err := tls.Dial("tcp", e.tlsAddr, cfg); err == nil {
		c.Close()
		t.Fatal("TLS with ALPN http/1.1 accepted")
	}
	cfg.NextProtos = []string{"imap"}
	c, err := tls.Dial("tcp", e.tlsAddr, cfg)
	if err != nil {
		t.Fatalf("ALPN imap: %v", err)
	}
	c.Close()
}

package pop3server

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogRedaction: commands are logged with a connection id, passwords
// and SASL data never, control characters escaped.
func TestLogRedaction(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	ts := startServer(t, Config{AllowInsecureAuth: true}, func(s *Server) {
		s.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := dial(t, ts.addr)
	c.ok("USER bob@example.test")
	c.ok("PASS %s", testUsers["bob@example.test"])
	c.ok("QUIT")
	ir := plainIR("alice@example.test", "alice-pw")
	c = dial(t, ts.addr)
	c.cmd("PASS leaked-in-wrong-state")
	c.cmd("USER evil\x1b[31m")
	c.cmd("AUTH PLAIN")
	c.cmd("%s", ir)
	c.ok("QUIT")
	c.expectClosed()
	waitFor(t, "session logs", func() bool { return strings.Count(buf.String(), "disconnected") == 2 })
	out := buf.String()
	for _, secret := range []string{"pw with spaces", "alice-pw", ir, "leaked-in-wrong-state", "\x1b"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"conn=1", "conn=2", "cmd=USER", "args=bob@example.test", "cmd=PASS args=<redacted>", "account=bob@example.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

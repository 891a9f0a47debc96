package pop3server

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

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
		if l := c.cmd("XYZZY / 1.1"); l != "-ERR Unknown command" {
			t.Fatal(l)
		}
	}
	if l := c.cmd("STAT"); l != "-ERR Command not valid in this state" {
		t.Fatal(l)
	}
	c.expectClosed()
}

// An HTTP request (a browser or proxy on the wrong port, ALPACA) closes
// the connection at once; GET without " HTTP/" is an unknown command.
func TestHTTPRequestCloses(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{})
	c := dial(t, ts.addr)
	if l := c.cmd("GET mail"); l != "-ERR Unknown command" {
		t.Fatal(l)
	}
	if l := c.cmd("GET / HTTP/1.1"); l != "-ERR HTTP request on POP3 port, closing connection" {
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

// TestShutdownForced: a session stuck writing to a client that does not
// read is closed when the Shutdown deadline passes; nothing is deleted.
func TestShutdownForced(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, strings.Repeat("a line that fills the socket buffers\r\n", 1<<20))
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.ok("RSET")
	c.send("RETR 1") // and never read the answer
	waitFor(t, "RETR under way", func() bool {
		ts.backend.mu.Lock()
		defer ts.backend.mu.Unlock()
		return ts.backend.openCount == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	ts.mu.Lock()
	n := len(ts.sessions)
	ts.mu.Unlock()
	if n != 0 || ts.backend.locked(1) || ts.backend.deleteCalls() != 0 {
		t.Fatalf("after forced shutdown: %d sessions, locked %v, %d deletes", n, ts.backend.locked(1), ts.backend.deleteCalls())
	}
}

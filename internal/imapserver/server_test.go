package imapserver

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// panicky is a backend whose SEARCH BODY panics.
type panicky struct{ Backend }

func (p panicky) Search(ctx context.Context, mb int64, c *store.SearchCriteria) ([]uint32, error) {
	if len(c.Body) > 0 {
		panic("boom")
	}
	return p.Backend.Search(ctx, mb, c)
}

// A panic in a session closes that connection only.
func TestPanicClosesOneConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wrapBackend(func(b Backend) Backend { return panicky{b} }))
	other := e.rawTLS(t).login()
	other.ok("SELECT INBOX")
	r := e.rawTLS(t).login()
	r.ok("EXAMINE Trash")
	r.write("x SEARCH BODY boom\r\n")
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := r.r.ReadString('\n'); err == nil && strings.HasPrefix(l, "x OK") {
		t.Fatalf("SEARCH after panic: %q", l)
	}
	waitFor(t, func() bool { return e.panics.count().Load() > 0 }) // logged
	other.ok("NOOP")
	e.rawTLS(t).login().ok("LIST \"\" \"*\"")
}

type deadlineConn struct {
	net.Conn
	got time.Time
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error { d.got = t; return nil }

// An authenticated session waits AutoLogout for a command, IDLE waits
// IdleTimeout, and a client that has not logged in gets a minute per
// command.
func TestReadDeadlines(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{AutoLogout: 45 * time.Minute, IdleTimeout: 40 * time.Minute}.withDefaults()}
	d := &deadlineConn{}
	sess := &session{srv: s, conn: d, state: stateAuth}
	sess.setReadDeadline(false)
	if got := time.Until(d.got); got < 44*time.Minute || got > 46*time.Minute {
		t.Fatalf("auto-logout deadline in %v", got)
	}
	sess.setReadDeadline(true)
	if got := time.Until(d.got); got < 39*time.Minute || got > 41*time.Minute {
		t.Fatalf("IDLE deadline in %v", got)
	}
	sess.state = stateNotAuth
	sess.setReadDeadline(false)
	if got := time.Until(d.got); got > time.Minute {
		t.Fatalf("command deadline before login in %v", got)
	}
	if cfg := (Config{AutoLogout: time.Minute}).withDefaults(); cfg.AutoLogout != 30*time.Minute {
		t.Fatalf("auto-logout below the RFC minimum: %v", cfg.AutoLogout)
	}
}

// The implicit-TLS view serves TLS on its listener.
func TestImplicitTLSView(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ImplicitTLS().Serve(ln)
	c, err := tls.Dial("tcp", ln.Addr().String(), e.tlsClient)
	if err != nil {
		t.Fatal(err)
	}
	newRaw(t, c).login().ok("SELECT INBOX")
}

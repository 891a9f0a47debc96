package imapserver

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kantorpos/kantorpos/internal/store"
)

// changeCounter counts the store's Changes queries.
type changeCounter struct {
	Backend
	n *atomic.Int64
}

func (c changeCounter) Changes(ctx context.Context, mb int64, since uint64) (store.MailboxChanges, error) {
	c.n.Add(1)
	return c.Backend.Changes(ctx, mb, since)
}

// A selected session asks the store for changes only when the change
// broker reported one (issue 17 item 4): commands on a mailbox nobody
// changed cost no Changes query; a delivery is still seen at the next
// command, and the session's own changes at once.
func TestNoQueryWithoutNews(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	e := newEnv(t, wrapBackend(func(b Backend) Backend { return changeCounter{b, &n} }))
	e.deliver(t, "", testMsg("one", "x"))
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	before := n.Load()
	for i := 0; i < 20; i++ {
		r.ok("NOOP")
		r.ok("UID FETCH 1:* (FLAGS UID)")
		r.ok("SEARCH ALL")
		r.ok("STATUS INBOX (MESSAGES)")
	}
	if got := n.Load() - before; got != 0 {
		t.Fatalf("%d Changes queries for 80 commands on an unchanged mailbox", got)
	}
	e.deliver(t, "", testMsg("two", "x"))
	if u := r.ok("NOOP"); !contains(u, "* 2 EXISTS") {
		t.Fatalf("NOOP after a delivery: %q", u)
	}
	if u := r.ok(`STORE 1 +FLAGS (\Deleted)`); !contains(u, `\Deleted`) {
		t.Fatalf("STORE: %q", u)
	}
	if u := r.ok("EXPUNGE"); len(u) != 1 || !strings.HasPrefix(u[0], "* 1 EXPUNGE") {
		t.Fatalf("own EXPUNGE: %q", u)
	}
}

package imapserver

import (
	"strings"
	"testing"
)

// A keyword another session added is announced in FLAGS (and
// PERMANENTFLAGS) before any FETCH response that carries it (issue 17
// item 3), and FLAGS keeps keywords messages still carry.
func TestNewKeywordAnnouncedBeforeFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("one", "x"))
	e.deliver(t, "", testMsg("two", "x"), "$Old")
	a := e.rawTLS(t).login()
	b := e.rawTLS(t).login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS ($Fresh)`)
	u := a.ok("FETCH 1:* FLAGS")
	flags, fetch := -1, -1
	for i, l := range u {
		if strings.HasPrefix(l, "* FLAGS") && strings.Contains(l, "$Fresh") && flags < 0 {
			flags = i
		}
		if strings.Contains(l, "FETCH") && strings.Contains(l, "$Fresh") && fetch < 0 {
			fetch = i
		}
	}
	if flags < 0 || fetch < 0 || flags > fetch {
		t.Fatalf("FLAGS with $Fresh must come before the first FETCH with it: %q", u)
	}
	if !contains(u, "$Old") || !contains(u, "[PERMANENTFLAGS (") {
		t.Fatalf("FLAGS dropped a keyword still in use, or no PERMANENTFLAGS: %q", u)
	}
}

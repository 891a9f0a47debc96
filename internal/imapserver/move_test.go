package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

func TestMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 4; i++ {
		e.deliver(t, "", testMsg("m", "x"))
	}
	trash := e.mailbox(t, "Trash")
	a := e.rawTLS(t).login()
	b := e.rawTLS(t).login()
	c := e.rawTLS(t).login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	c.ok("SELECT Trash")

	// RFC 6851: COPYUID before the EXPUNGEs, then the tagged OK.
	u := a.ok("MOVE 2:3 Trash")
	want := fmt.Sprintf("* OK [COPYUID %d 2:3 1:2]", trash.UIDValidity)
	if len(u) != 3 || !strings.HasPrefix(u[0], want) || !strings.HasSuffix(u[1], "EXPUNGE") || !strings.HasSuffix(u[2], "EXPUNGE") {
		t.Fatalf("MOVE: %q", u)
	}
	// Session B on the source sees the EXPUNGEs, C on the target the EXISTS.
	if u := b.ok("NOOP"); len(u) != 2 || !contains(u, "EXPUNGE") {
		t.Fatalf("other source session: %q", u)
	}
	if u := b.ok("FETCH 1:* UID"); len(u) != 2 || !contains(u, "* 2 FETCH (UID 4)") {
		t.Fatalf("source after MOVE: %q", u)
	}
	if u := c.ok("NOOP"); !contains(u, "* 2 EXISTS") {
		t.Fatalf("target session: %q", u)
	}
	// UID MOVE, and FETCH/STORE/SEARCH do not get EXPUNGE (RFC 9051 7.5.1).
	a.ok("UID MOVE 4 Trash")
	if u := b.ok("FETCH 1:* UID"); contains(u, "EXPUNGE") {
		t.Fatalf("EXPUNGE during FETCH: %q", u)
	}
	if u := b.ok("NOOP"); !contains(u, "* 2 EXPUNGE") {
		t.Fatalf("pending EXPUNGE at NOOP: %q", u)
	}
	if _, tagged := a.cmd("MOVE 1 INBOX"); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("MOVE to itself: %s", tagged)
	}
	if _, tagged := a.cmd("MOVE 1 Nowhere"); !strings.HasPrefix(tagged, "NO [TRYCREATE]") {
		t.Fatalf("MOVE to a missing mailbox: %s", tagged)
	}
	a.ok("EXAMINE INBOX")
	if _, tagged := a.cmd("MOVE 1 Trash"); !strings.HasPrefix(tagged, "NO [READ-ONLY]") {
		t.Fatalf("MOVE from EXAMINE: %s", tagged)
	}
}

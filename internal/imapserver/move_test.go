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
	// MOVE to the selected mailbox itself works (issue 17): see
	// TestMoveCopySameMailbox.
	if _, tagged := a.cmd("MOVE 1 Nowhere"); !strings.HasPrefix(tagged, "NO [TRYCREATE]") {
		t.Fatalf("MOVE to a missing mailbox: %s", tagged)
	}
	a.ok("EXAMINE INBOX")
	if _, tagged := a.cmd("MOVE 1 Trash"); !strings.HasPrefix(tagged, "NO [READ-ONLY]") {
		t.Fatalf("MOVE from EXAMINE: %s", tagged)
	}
}

// MOVE and COPY into the selected mailbox itself (issue 17 item 3): new
// UIDs, COPYUID, and the view follows (EXPUNGE of the old message for
// MOVE, EXISTS of the new one).
func TestMoveCopySameMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("one", "x"))
	e.deliver(t, "", testMsg("two", "x"))
	inbox := e.mailbox(t, "INBOX")
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	u := r.ok("UID MOVE 1 INBOX")
	if !contains(u, fmt.Sprintf("[COPYUID %d 1 3]", inbox.UIDValidity)) || !contains(u, "* 1 EXPUNGE") || !contains(u, "* 2 EXISTS") {
		t.Fatalf("MOVE into the same mailbox: %q", u)
	}
	_, tagged := r.cmd("COPY 1 INBOX")
	if !strings.HasPrefix(tagged, fmt.Sprintf("OK [COPYUID %d 2 4]", inbox.UIDValidity)) {
		t.Fatalf("COPY into the same mailbox: %s", tagged)
	}
	if u := r.ok("UID SEARCH ALL"); len(u) != 1 || u[0] != "* SEARCH 2 3 4" {
		t.Fatalf("UIDs after MOVE and COPY: %q", u)
	}
}

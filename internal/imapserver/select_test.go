package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("one", "x"))
	e.deliver(t, "", testMsg("two", "y"), `\Seen`, "$Work")
	inbox := e.mailbox(t, "INBOX")
	r := e.rawTLS(t).login()
	u, tagged := r.cmd("SELECT INBOX")
	if !strings.HasPrefix(tagged, "OK [READ-WRITE]") {
		t.Fatalf("SELECT: %s", tagged)
	}
	for _, want := range []string{"* 2 EXISTS", fmt.Sprintf("[UIDVALIDITY %d]", inbox.UIDValidity), "[UIDNEXT 3]",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`, `[PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)]`,
		"[UNSEEN 1]"} {
		if !contains(u, want) {
			t.Errorf("SELECT: missing %q in %q", want, u)
		}
	}
	// EXAMINE is read-only: no flag changes, no implicit \Seen.
	u, tagged = r.cmd("EXAMINE INBOX")
	if !strings.HasPrefix(tagged, "OK [READ-ONLY]") || !contains(u, "[CLOSED]") {
		t.Fatalf("EXAMINE: %s %q", tagged, u)
	}
	if _, tagged := r.cmd(`STORE 1 +FLAGS (\Flagged)`); !strings.HasPrefix(tagged, "NO [READ-ONLY]") {
		t.Fatalf("STORE in EXAMINE: %s", tagged)
	}
	r.ok("FETCH 1 BODY[]")
	u = r.ok("FETCH 1 FLAGS")
	if contains(u, `\Seen`) {
		t.Fatalf("EXAMINE + BODY[] set \\Seen: %q", u)
	}
	// Missing and hostile names.
	for _, name := range []string{"Nope", `"/etc"`, `"../INBOX"`, `"INBOX/../../x"`, `"&AC4ALg-/x"`} {
		if _, tagged := r.cmd("SELECT " + name); !strings.HasPrefix(tagged, "NO") {
			t.Errorf("SELECT %s: %s", name, tagged)
		}
	}
	// "inbox" is INBOX.
	r.ok("SELECT inbox")
	r.ok("UNSELECT")
	if _, tagged := r.cmd("FETCH 1 FLAGS"); !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("FETCH after UNSELECT: %s", tagged)
	}
}

// Another session sees a delivery at its next command.
func TestSelectOtherSessionSeesDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.rawTLS(t).login()
	a.ok("SELECT INBOX")
	e.deliver(t, "", testMsg("late", "x"))
	if u := a.ok("NOOP"); !contains(u, "* 1 EXISTS") {
		t.Fatalf("NOOP after delivery: %q", u)
	}
	// Three at once: one EXISTS each, ending at 4.
	for i := 0; i < 3; i++ {
		e.deliver(t, "", testMsg("more", "x"))
	}
	if u := a.ok("NOOP"); !contains(u, "* 4 EXISTS") {
		t.Fatalf("NOOP after three deliveries: %q", u)
	}
	if u := a.ok("FETCH 1:* UID"); len(u) != 4 || !contains(u, "* 4 FETCH (UID 4)") {
		t.Fatalf("FETCH 1:*: %q", u)
	}
}

package imapserver

import (
	"slices"
	"strings"
	"testing"
)

// \Recent (RFC 3501 §2.3.2): exactly one session sees a new message as
// recent; EXAMINE shows it without taking it; STATUS, SEARCH NEW/OLD/RECENT
// and FETCH FLAGS agree; copies are recent in their mailbox (issue 17).
func TestRecentOneSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("one", "x"))
	e.deliver(t, "", testMsg("two", "y"))
	a := e.rawTLS(t).login()
	b := e.rawTLS(t).login()

	if u := a.ok("STATUS INBOX (RECENT)"); !slices.Contains(u, "* STATUS INBOX (RECENT 2)") {
		t.Fatalf("STATUS before any SELECT: %q", u)
	}
	// EXAMINE sees them as recent but does not take them.
	if u := b.ok("EXAMINE INBOX"); !slices.Contains(u, "* 2 RECENT") {
		t.Fatalf("EXAMINE: %q", u)
	}
	b.ok("UNSELECT")
	if u := a.ok("SELECT INBOX"); !slices.Contains(u, "* 2 RECENT") {
		t.Fatalf("first SELECT: %q", u)
	}
	if u := a.ok("FETCH 1:2 FLAGS"); !slices.Contains(u, `* 1 FETCH (FLAGS (\Recent))`) || !slices.Contains(u, `* 2 FETCH (FLAGS (\Recent))`) {
		t.Fatalf("FETCH FLAGS of recent messages: %q", u)
	}
	a.ok(`STORE 1 +FLAGS.SILENT (\Seen)`)
	for cmd, want := range map[string]string{"SEARCH RECENT": "* SEARCH 1 2", "SEARCH NEW": "* SEARCH 2", "SEARCH OLD": "* SEARCH", "SEARCH NOT RECENT": "* SEARCH"} {
		if u := a.ok(cmd); !slices.Contains(u, want) {
			t.Errorf("first session %s: %q, want %q", cmd, u, want)
		}
	}
	// The second session comes after: nothing is recent to it.
	if u := b.ok("SELECT INBOX"); !slices.Contains(u, "* 0 RECENT") {
		t.Fatalf("second SELECT: %q", u)
	}
	for cmd, want := range map[string]string{"SEARCH RECENT": "* SEARCH", "SEARCH NEW": "* SEARCH", "SEARCH OLD": "* SEARCH 1 2"} {
		if u := b.ok(cmd); !slices.Contains(u, want) {
			t.Errorf("second session %s: %q, want %q", cmd, u, want)
		}
	}
	if u := b.ok("FETCH 2 FLAGS"); !slices.Contains(u, `* 2 FETCH (FLAGS ())`) {
		t.Fatalf("second session FETCH FLAGS: %q", u)
	}

	// A delivery while both have INBOX selected is recent to one of them.
	e.deliver(t, "", testMsg("three", "z"))
	ua, ub := a.ok("NOOP"), b.ok("NOOP")
	if !slices.Contains(ua, "* 3 EXISTS") || !slices.Contains(ub, "* 3 EXISTS") {
		t.Fatalf("NOOP after delivery: %q / %q", ua, ub)
	}
	ra, rb := a.ok("SEARCH RECENT"), b.ok("SEARCH RECENT")
	inA, inB := strings.HasSuffix(ra[0], " 3"), strings.HasSuffix(rb[0], " 3")
	if inA == inB {
		t.Fatalf("message 3 recent to A: %v, to B: %v (%q / %q)", inA, inB, ra, rb)
	}
	if inA && !slices.Contains(ua, "* 3 RECENT") || inB && !slices.Contains(ub, "* 1 RECENT") {
		t.Fatalf("RECENT with the new EXISTS: %q / %q", ua, ub)
	}
	c := e.rawTLS(t).login()
	if u := c.ok("STATUS INBOX (RECENT MESSAGES)"); !slices.Contains(u, "* STATUS INBOX (MESSAGES 3 RECENT 0)") {
		t.Fatalf("STATUS after all were taken: %q", u)
	}

	// COPY: the copies are recent in the destination, to one session.
	a.ok("CREATE Dst")
	a.ok("COPY 1:2 Dst")
	if u := c.ok("STATUS Dst (RECENT)"); !slices.Contains(u, `* STATUS "Dst" (RECENT 2)`) {
		t.Fatalf("STATUS of the copies: %q", u)
	}
	if u := c.ok("SELECT Dst"); !slices.Contains(u, "* 2 RECENT") {
		t.Fatalf("SELECT of the copies: %q", u)
	}
	if u := c.ok(`FETCH 1 FLAGS`); !slices.Contains(u, `* 1 FETCH (FLAGS (\Seen \Recent))`) {
		t.Fatalf("FETCH FLAGS of a copy: %q", u)
	}
	if u := b.ok("SELECT Dst"); !slices.Contains(u, "* 0 RECENT") {
		t.Fatalf("second SELECT of the copies: %q", u)
	}

	// The claim outlives the sessions that had the mailbox open.
	for _, r := range []*raw{a, b, c} {
		r.ok("UNSELECT")
	}
	e.deliver(t, "", testMsg("four", "w"))
	if u := c.ok("SELECT INBOX"); !slices.Contains(u, "* 1 RECENT") {
		t.Fatalf("SELECT after everyone left and a delivery: %q", u)
	}
}

// IMAP4rev2 has no \Recent: a session that enables it is not told of it,
// even when it enables it with the mailbox selected.
func TestRecentNotForIMAP4rev2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("one", "x"))
	r := e.rawTLS(t).login()
	if u := r.ok("SELECT INBOX"); !slices.Contains(u, "* 1 RECENT") {
		t.Fatalf("IMAP4rev1 SELECT: %q", u)
	}
	r.ok("ENABLE IMAP4rev2")
	if u := r.ok("FETCH 1 FLAGS"); !slices.Contains(u, "* 1 FETCH (FLAGS ())") {
		t.Fatalf("FETCH FLAGS after ENABLE IMAP4rev2: %q", u)
	}
	e.deliver(t, "", testMsg("two", "y"))
	if u := r.ok("NOOP"); !slices.Contains(u, "* 2 EXISTS") || contains(u, "RECENT") {
		t.Fatalf("NOOP after a delivery: %q", u)
	}
}

package imapserver

import (
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.deliver(t, "", testMsg("s", "x"))
	}
	a := e.rawTLS(t).login()
	b := e.rawTLS(t).login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	// A selected first: the messages are recent to A, not to B.
	u := a.ok(`STORE 1:2 +FLAGS (\Flagged $Work)`)
	if !contains(u, `* 1 FETCH (FLAGS (\Flagged $Work \Recent))`) || !contains(u, `* 2 FETCH (FLAGS (\Flagged $Work \Recent))`) || !contains(u, "* FLAGS (") {
		t.Fatalf("+FLAGS: %q", u)
	}
	// B sees the change as FETCH FLAGS at its next command, and the new keyword in FLAGS.
	u = b.ok("NOOP")
	if !contains(u, `* 1 FETCH (UID 1 FLAGS (\Flagged $Work))`) || !contains(u, `* 2 FETCH (UID 2 FLAGS (\Flagged $Work))`) ||
		!contains(u, "* FLAGS (") || !contains(u, "$Work") {
		t.Fatalf("other session: %q", u)
	}
	// .SILENT: nothing for the session that stored, the others still learn.
	if u := a.ok(`STORE 3 +FLAGS.SILENT (\Seen)`); len(u) != 0 {
		t.Fatalf(".SILENT: %q", u)
	}
	if u := a.ok("NOOP"); len(u) != 0 {
		t.Fatalf("own .SILENT change echoed: %q", u)
	}
	if u := b.ok("NOOP"); !contains(u, `* 3 FETCH (UID 3 FLAGS (\Seen))`) {
		t.Fatalf("other after .SILENT: %q", u)
	}
	// -FLAGS and FLAGS (replace), UID STORE reports UIDs.
	u = a.ok(`UID STORE 1 -FLAGS ($Work)`)
	if !contains(u, `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent))`) {
		t.Fatalf("UID STORE -FLAGS: %q", u)
	}
	u = a.ok(`STORE 2 FLAGS (\Answered \Draft)`)
	if !contains(u, `* 2 FETCH (FLAGS (\Answered \Draft \Recent))`) {
		t.Fatalf("FLAGS: %q", u)
	}
	// \Recent cannot be stored; case of system flags is canonical.
	u = a.ok(`STORE 2 +FLAGS (\Recent \SEEN)`)
	if !contains(u, `FLAGS (\Seen \Answered \Draft \Recent)`) {
		t.Fatalf("\\Recent \\SEEN: %q", u)
	}
	// Bad syntax is refused, never a crash (go-imap answers a malformed
	// sequence set with NO [SERVERBUG] rather than BAD).
	for _, bad := range []string{`STORE 1 +FLAGZ (\Seen)`, `STORE x FLAGS ()`, `STORE 1 +FLAGS (\Seen`} {
		if _, tagged := a.cmd(bad); strings.HasPrefix(tagged, "OK") {
			t.Errorf("%s: %s", bad, tagged)
		}
	}
	// MODSEQ is recorded for every change.
	if mb := e.mailbox(t, "INBOX"); mb.HighestModSeq < 6 {
		t.Fatalf("HIGHESTMODSEQ %d after 5 flag changes and 3 deliveries", mb.HighestModSeq)
	}
}

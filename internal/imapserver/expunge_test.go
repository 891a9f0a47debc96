package imapserver

import (
	"strings"
	"testing"
)

func TestExpunge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.deliver(t, "", testMsg("e", "x"))
	}
	a := e.rawTLS(t).login()
	b := e.rawTLS(t).login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	a.ok(`STORE 2,4,5 +FLAGS.SILENT (\Deleted)`)
	// UID EXPUNGE removes only the listed UIDs (RFC 4315).
	if u := a.ok("UID EXPUNGE 4"); len(u) != 1 || u[0] != "* 4 EXPUNGE" {
		t.Fatalf("UID EXPUNGE: %q", u)
	}
	u := a.ok("EXPUNGE")
	if len(u) != 2 || !contains(u, "EXPUNGE") {
		t.Fatalf("EXPUNGE: %q", u)
	}
	if u := a.ok("UID SEARCH ALL"); u[0] != "* SEARCH 1 3" {
		t.Fatalf("left: %q", u)
	}
	// The other session learns of all three, consistently numbered.
	u = b.ok("NOOP")
	n := 0
	for _, l := range u {
		if strings.HasSuffix(l, "EXPUNGE") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("other session: %q", u)
	}
	if u := b.ok("FETCH 1:* UID"); len(u) != 2 || u[1] != "* 2 FETCH (UID 3)" {
		t.Fatalf("other session after: %q", u)
	}
	// CLOSE expunges silently; in EXAMINE it removes nothing.
	a.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXAMINE INBOX")
	b.ok("CLOSE")
	if st, _ := e.store.MailboxStatus(t.Context(), e.mailbox(t, "INBOX").ID); st.Messages != 2 {
		t.Fatalf("CLOSE in EXAMINE expunged: %d left", st.Messages)
	}
	if u := a.ok("CLOSE"); len(u) != 0 {
		t.Fatalf("CLOSE sent %q", u)
	}
	if st, _ := e.store.MailboxStatus(t.Context(), e.mailbox(t, "INBOX").ID); st.Messages != 1 {
		t.Fatalf("after CLOSE: %d messages", st.Messages)
	}
}

// A mailbox deleted under a session that has it selected empties for it.
func TestExpungeOnDeletedMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Junk", testMsg("spam", "x"))
	e.deliver(t, "Junk", testMsg("spam", "y"))
	a := e.rawTLS(t).login()
	b := e.rawTLS(t).login()
	b.ok("SELECT Junk")
	a.ok("DELETE Junk")
	if u := b.ok("NOOP"); len(u) != 2 || !strings.HasSuffix(u[0], "EXPUNGE") {
		t.Fatalf("after DELETE elsewhere: %q", u)
	}
	if u := b.ok("FETCH 1:* UID"); len(u) != 0 {
		t.Fatalf("FETCH in a deleted mailbox: %q", u)
	}
}

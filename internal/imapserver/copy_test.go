package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

func TestCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.deliver(t, "", testMsg("c", "x"), `\Flagged`)
	}
	archive := e.mailbox(t, "Archive")
	a := e.rawTLS(t).login()
	watcher := e.rawTLS(t).login()
	a.ok("SELECT INBOX")
	watcher.ok("SELECT Archive")
	_, tagged := a.cmd("COPY 2:3 Archive")
	if want := fmt.Sprintf("OK [COPYUID %d 2:3 1:2]", archive.UIDValidity); !strings.HasPrefix(tagged, want) {
		t.Fatalf("COPY: %s, want %s", tagged, want)
	}
	// Flags travel; the session on the target sees EXISTS.
	if u := watcher.ok("NOOP"); !contains(u, "* 2 EXISTS") {
		t.Fatalf("target session: %q", u)
	}
	// The watcher had Archive selected when the copies came: they are recent to it.
	if u := watcher.ok("FETCH 1:* FLAGS"); !contains(u, `* 2 FETCH (FLAGS (\Flagged \Recent))`) {
		t.Fatalf("target session: %q", u)
	}
	// The source is unchanged.
	if u := a.ok("NOOP"); len(u) != 0 {
		t.Fatalf("source session after COPY: %q", u)
	}
	// COPY into the selected mailbox itself: EXISTS for this session too.
	if u := a.ok("UID COPY 1 INBOX"); !contains(u, "* 4 EXISTS") {
		t.Fatalf("COPY to self: %q", u)
	}
	if _, tagged := a.cmd("COPY 1 Missing"); !strings.HasPrefix(tagged, "NO [TRYCREATE]") {
		t.Fatalf("COPY to a missing mailbox: %s", tagged)
	}
	if _, tagged := a.cmd(`COPY 1 "../../etc"`); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("COPY to ../../etc: %s", tagged)
	}
	// Nothing matched: OK without COPYUID.
	if _, tagged := a.cmd("UID COPY 99 Archive"); !strings.HasPrefix(tagged, "OK") || strings.Contains(tagged, "COPYUID") {
		t.Fatalf("empty COPY: %s", tagged)
	}
}

package imapserver

import (
	"strings"
	"testing"
)

// ENABLE IMAP4rev2 switches SEARCH to ESEARCH and drops \Recent.
func TestEnableIMAP4rev2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("rev2", "x"))
	r := e.rawTLS(t).login()
	if u := r.ok("ENABLE IMAP4rev2 CONDSTORE"); len(u) != 1 || u[0] != "* ENABLED IMAP4rev2" {
		t.Fatalf("ENABLE: %q", u)
	}
	if u := r.ok("SELECT INBOX"); contains(u, "RECENT") || !contains(u, "* 1 EXISTS") || !contains(u, `* LIST (\HasNoChildren) "/" INBOX`) {
		t.Fatalf("SELECT under IMAP4rev2: %q", u)
	}
	if u := r.ok("EXAMINE Trash"); !contains(u, `* LIST (\HasNoChildren \Trash) "/" "Trash"`) {
		t.Fatalf("EXAMINE under IMAP4rev2: %q", u)
	}
	r.ok("SELECT INBOX")
	u := r.ok("UID SEARCH ALL")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* ESEARCH (TAG ") || !strings.HasSuffix(u[0], "UID ALL 1") {
		t.Fatalf("SEARCH under IMAP4rev2: %q", u)
	}
	if u := r.ok("SEARCH SUBJECT nothing-matches"); len(u) != 1 || strings.Contains(u[0], "ALL") {
		t.Fatalf("empty ESEARCH: %q", u)
	}
}

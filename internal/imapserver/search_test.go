package imapserver

import (
	"strings"
	"testing"
)

func TestSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("apples", "The quick brown fox"))                                          // 1
	e.deliver(t, "", testMsg("bananas", "jumps over the lazy dog"), `\Seen`)                            // 2
	e.deliver(t, "", testMsg("cherries", strings.Repeat("long text ", 200)), `\Flagged`)                // 3
	e.deliver(t, "", "From: carol@ext.test\r\nSubject: no date\r\nX-Tag: special\r\n\r\nfox again\r\n") // 4
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	tests := []struct{ query, want string }{
		{"ALL", "* SEARCH 1 2 3 4"},
		{"SEEN", "* SEARCH 2"},
		{"UNSEEN", "* SEARCH 1 3 4"},
		{"FLAGGED UNSEEN", "* SEARCH 3"},
		{"SUBJECT bananas", "* SEARCH 2"},
		{"FROM carol", "* SEARCH 4"},
		{`HEADER X-Tag special`, "* SEARCH 4"},
		{`HEADER X-Tag ""`, "* SEARCH 4"},
		{"BODY fox", "* SEARCH 1 4"},
		{"TEXT lazy", "* SEARCH 2"},
		{"TEXT apples", "* SEARCH 1"},
		{"NOT BODY fox", "* SEARCH 2 3"},
		{"OR SEEN FLAGGED", "* SEARCH 2 3"},
		{"LARGER 1000", "* SEARCH 3"},
		{"SMALLER 300", "* SEARCH 1 2 4"},
		{"2:3", "* SEARCH 2 3"},
		{"2:* NOT 3", "* SEARCH 2 4"},
		{"UID 1,4", "* SEARCH 1 4"},
		{"SENTON 3-Mar-2026", "* SEARCH 1 2 3"},
		{"SENTBEFORE 1-Jan-2000", "* SEARCH"},
		{"SINCE 1-Jan-2000", "* SEARCH 1 2 3 4"},
		{"BEFORE 1-Jan-2000", "* SEARCH"},
		{"CHARSET UTF-8 BODY fox", "* SEARCH 1 4"},
		{"KEYWORD $Work", "* SEARCH"},
		{"NEW", "* SEARCH 1 3 4"}, // the first session to select: all are recent
		{"OLD", "* SEARCH"},
	}
	for _, tt := range tests {
		u := r.ok("SEARCH " + tt.query)
		if len(u) != 1 || u[0] != tt.want {
			t.Errorf("SEARCH %s = %q, want %q", tt.query, u, tt.want)
		}
	}
	if u := r.ok("UID SEARCH BODY fox"); u[0] != "* SEARCH 1 4" {
		t.Errorf("UID SEARCH: %q", u)
	}
	// ESEARCH.
	if u := r.ok("SEARCH RETURN (MIN MAX COUNT) ALL"); !strings.HasSuffix(u[0], "MIN 1 MAX 4 COUNT 4") {
		t.Errorf("ESEARCH: %q", u)
	}
	if u := r.ok("UID SEARCH RETURN (ALL) UNSEEN"); !strings.Contains(u[0], "UID ALL 1,3:4") {
		t.Errorf("ESEARCH ALL: %q", u)
	}
	// SEARCHRES: SAVE then $.
	r.ok("SEARCH RETURN (SAVE) BODY fox")
	if u := r.ok("FETCH $ UID"); len(u) != 2 || !contains(u, "UID 4") {
		t.Errorf("FETCH $: %q", u)
	}
	// Unknown charset, nesting beyond the cap, syntax errors.
	if _, tagged := r.cmd("SEARCH CHARSET KOI8-R BODY x"); !strings.HasPrefix(tagged, "NO [BADCHARSET]") {
		t.Errorf("charset: %s", tagged)
	}
	if _, tagged := r.cmd("SEARCH " + strings.Repeat("NOT ", 100) + "ALL"); !strings.HasPrefix(tagged, "BAD") {
		t.Errorf("deep NOT: %s", tagged)
	}
	// (go-imap answers an unknown key with NO [SERVERBUG], not BAD.)
	if _, tagged := r.cmd("SEARCH FOO"); strings.HasPrefix(tagged, "OK") {
		t.Errorf("SEARCH FOO: %s", tagged)
	}
}

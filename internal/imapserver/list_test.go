package imapserver

import (
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	other := e.rawTLS(t).login()
	r.ok("CREATE Projects/2026/Q1")
	r.ok(`CREATE "Caf&AOk-"`) // modified UTF-7 for Café
	// Folders made in one session appear in another.
	u := other.ok(`LIST "" "*"`)
	for _, want := range []string{
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" "Projects"`,
		`* LIST (\HasChildren) "/" "Projects/2026"`,
		`* LIST (\HasNoChildren) "/" "Projects/2026/Q1"`,
		`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Trash) "/" "Trash"`,
		`"/" "Caf&AOk-"`,
	} {
		if !contains(u, want) {
			t.Errorf("LIST *: missing %q in %q", want, u)
		}
	}
	if u := r.ok(`LIST "" "%"`); contains(u, "Projects/2026") || !contains(u, `"/" "Projects"`) {
		t.Errorf("LIST %%: %q", u)
	}
	if u := r.ok(`LIST "Projects/" "%"`); len(u) != 1 || !contains(u, `"Projects/2026"`) {
		t.Errorf("LIST with reference: %q", u)
	}
	if u := r.ok(`LIST "" "inbox"`); len(u) != 1 || !contains(u, "INBOX") {
		t.Errorf("LIST inbox: %q", u)
	}
	if u := r.ok(`LIST "" ""`); len(u) != 1 || !strings.Contains(u[0], `(\Noselect) "/" ""`) {
		t.Errorf(`LIST "" "": %q`, u)
	}
	// RETURN (SPECIAL-USE), selection SPECIAL-USE, RETURN (STATUS ...).
	if u := r.ok(`LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)`); len(u) != 5 || !contains(u, `\Junk`) || contains(u, "INBOX") {
		t.Errorf("LIST (SPECIAL-USE): %q", u)
	}
	e.deliver(t, "", testMsg("x", "y"))
	u = r.ok(`LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN SIZE))`)
	if len(u) != 2 || !strings.HasPrefix(u[1], "* STATUS INBOX (MESSAGES 1 UNSEEN 1 SIZE ") {
		t.Errorf("LIST-STATUS: %q", u)
	}
	// Subscriptions: LSUB and LIST (SUBSCRIBED).
	r.ok("SUBSCRIBE Projects/2026")
	if u := r.ok(`LSUB "" "Projects*"`); len(u) != 1 || !strings.HasPrefix(u[0], "* LSUB") || !strings.Contains(u[0], "Projects/2026") {
		t.Errorf("LSUB: %q", u)
	}
	if u := r.ok(`LIST (SUBSCRIBED) "" "Projects*"`); len(u) != 1 || !strings.Contains(u[0], `\Subscribed`) {
		t.Errorf("LIST (SUBSCRIBED): %q", u)
	}
	if u := r.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "P%"`); len(u) != 1 || !strings.Contains(u[0], `"Projects" ("CHILDINFO" ("SUBSCRIBED"))`) {
		t.Errorf("RECURSIVEMATCH: %q", u)
	}
	r.ok("UNSUBSCRIBE Projects/2026")
	if u := r.ok(`LSUB "" "Projects*"`); len(u) != 0 {
		t.Errorf("after UNSUBSCRIBE: %q", u)
	}
	// UTF8=ACCEPT: names in UTF-8 on the wire.
	r.ok("ENABLE UTF8=ACCEPT")
	if u := r.ok(`LIST "" "Caf*"`); len(u) != 1 || !strings.Contains(u[0], `"Café"`) {
		t.Errorf("UTF-8 LIST: %q", u)
	}
	// Decomposed (NFD) accents name the same mailbox.
	r.ok("SELECT \"Cafe\u0301\"")
	if u := r.ok("NAMESPACE"); len(u) != 1 || u[0] != `* NAMESPACE (("" "/")) NIL NIL` {
		t.Errorf("NAMESPACE: %q", u)
	}
}

func TestCreateDeleteRename(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.ok(`CREATE "Sent Items" (USE (\Sent))`)
	if u := r.ok(`LIST "" "Sent Items" RETURN (SPECIAL-USE)`); !contains(u, `\Sent`) {
		t.Fatalf("CREATE USE: %q", u)
	}
	if _, tagged := r.cmd(`CREATE X (USE (\Important))`); !strings.HasPrefix(tagged, "NO [USEATTR]") {
		t.Fatalf("unknown USE: %s", tagged)
	}
	if _, tagged := r.cmd("CREATE Trash"); !strings.HasPrefix(tagged, "NO [ALREADYEXISTS]") {
		t.Fatalf("existing: %s", tagged)
	}
	if _, tagged := r.cmd("CREATE inbox"); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("CREATE inbox: %s", tagged)
	}
	// Path traversal in any spelling is refused.
	for _, name := range []string{`"../../tmp/pwn"`, `"INBOX/../../x"`, `"&AC4ALg-/x"`, `"a//b"`, `"/abs"`, `"."`, `"#news"`, `""`, `"a/./b"`} {
		if _, tagged := r.cmd("CREATE " + name); !strings.HasPrefix(tagged, "NO") {
			t.Errorf("CREATE %s: %s", name, tagged)
		}
	}
	if _, tagged := r.cmd(`RENAME INBOX "../x"`); !strings.HasPrefix(tagged, "NO") {
		t.Errorf("RENAME INBOX ../x: %s", tagged)
	}
	if u := r.ok(`LIST "" "*"`); contains(u, "pwn") || contains(u, "..") {
		t.Fatalf("traversal left a trace: %q", u)
	}
	// CREATE with a trailing separator; RENAME moves children.
	r.ok("CREATE Work/")
	r.ok("CREATE Work/Reports")
	r.ok("RENAME Work Job")
	u := r.ok(`LIST "" "*"`)
	if contains(u, "Work") || !contains(u, "Job/Reports") {
		t.Fatalf("after RENAME: %q", u)
	}
	// RENAME INBOX moves its messages and leaves INBOX empty.
	e.deliver(t, "", testMsg("old", "x"))
	r.ok("RENAME INBOX Old/Inbox")
	st := r.ok("STATUS INBOX (MESSAGES)")
	st2 := r.ok(`STATUS Old/Inbox (MESSAGES)`)
	if st[0] != "* STATUS INBOX (MESSAGES 0)" || st2[0] != `* STATUS "Old/Inbox" (MESSAGES 1)` {
		t.Fatalf("after RENAME INBOX: %q %q", st, st2)
	}
	// DELETE keeps children; the parent lists as \Noselect.
	r.ok("DELETE Job")
	if u := r.ok(`LIST "" "Job*"`); !contains(u, `(\Noselect \HasChildren) "/" "Job"`) || !contains(u, "Job/Reports") {
		t.Fatalf("after DELETE parent: %q", u)
	}
	if _, tagged := r.cmd("DELETE INBOX"); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("DELETE INBOX: %s", tagged)
	}
	if _, tagged := r.cmd("DELETE Nope"); !strings.HasPrefix(tagged, "NO [NONEXISTENT]") {
		t.Fatalf("DELETE missing: %s", tagged)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("a", "x"), `\Seen`)
	e.deliver(t, "", testMsg("b", "x"), `\Deleted`)
	inbox := e.mailbox(t, "INBOX")
	r := e.rawTLS(t).login()
	u := r.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT APPENDLIMIT)")
	want := "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY " + itoa(int(inbox.UIDValidity)) + " UNSEEN 1 DELETED 1 SIZE "
	if len(u) != 1 || !strings.HasPrefix(u[0], want) || !strings.HasSuffix(u[0], "RECENT 2)") || !strings.Contains(u[0], "APPENDLIMIT 52428800") {
		t.Fatalf("STATUS: %q", u)
	}
	if _, tagged := r.cmd("STATUS Nope (MESSAGES)"); !strings.HasPrefix(tagged, "NO [NONEXISTENT]") {
		t.Fatalf("STATUS missing: %s", tagged)
	}
}

// LSUB and LIST (SUBSCRIBED) corner cases of issue 17 item 3: a parent
// that is not subscribed but has a subscribed child is listed by LSUB with
// "%" as \Noselect; a subscribed mailbox that was deleted is \NonExistent
// (which implies \Noselect, so not both).
func TestLsubParentsAndDeletedSubscriptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.ok("CREATE a/b")
	r.ok("SUBSCRIBE a/b")
	if u := r.ok(`LSUB "" %`); !contains(u, `* LSUB (\Noselect`) || !contains(u, `"a"`) {
		t.Errorf(`LSUB "" %%: %q`, u)
	}
	if u := r.ok(`LSUB "" a/%`); len(u) != 1 || !strings.Contains(u[0], `"a/b"`) {
		t.Errorf(`LSUB "" a/%%: %q`, u)
	}
	r.ok("CREATE gone")
	r.ok("SUBSCRIBE gone")
	r.ok("DELETE gone")
	u := r.ok(`LIST (SUBSCRIBED) "" gone`)
	if len(u) != 1 || !strings.Contains(u[0], `\NonExistent`) || strings.Contains(u[0], `\Noselect`) {
		t.Errorf("deleted subscribed mailbox: %q", u)
	}
}

// CHILDINFO (RFC 5258 §3.5, §4.5): with RECURSIVEMATCH only, on a parent
// whose subscribed descendant is not listed itself (it does not match the
// pattern), whether the parent is subscribed or not (issue 17).
func TestListChildInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	for _, c := range []string{"CREATE T7/T7", "CREATE T8/T8", "CREATE T8/T9", "CREATE S/Sub",
		"SUBSCRIBE T7/T7", "SUBSCRIBE T8/T8", "SUBSCRIBE T8/T9", "SUBSCRIBE S", "SUBSCRIBE S/Sub"} {
		r.ok(c)
	}
	childInfo := `("CHILDINFO" ("SUBSCRIBED"))`
	tests := []struct {
		cmd       string
		want, ban []string
	}{
		// T7/T7 is listed itself: T7 is not.
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "*T7"`, []string{`* LIST (\HasNoChildren \Subscribed) "/" "T7/T7"`}, []string{`"T7"`}},
		// T8/T9 does not match: T8 tells of it.
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "*T8"`, []string{`* LIST (\HasChildren) "/" "T8" ` + childInfo, `"T8/T8"`}, []string{`"T8/T9"`}},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)`, []string{`* LIST (\HasChildren) "/" "T7" ` + childInfo,
			`* LIST (\HasChildren) "/" "T8" ` + childInfo, `* LIST (\HasChildren \Subscribed) "/" "S" ` + childInfo}, []string{`"T8/T8"`}},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" ("T8" "T8/T8" "T8/T9")`, []string{`"T8/T8"`, `"T8/T9"`}, []string{`"T8"`}},
		// Without RECURSIVEMATCH: no CHILDINFO, unsubscribed parents not listed.
		{`LIST (SUBSCRIBED) "" "%" RETURN (CHILDREN)`, []string{`* LIST (\HasChildren \Subscribed) "/" "S"`}, []string{"CHILDINFO", `"T7"`, `"T8"`}},
	}
	for _, tt := range tests {
		u := r.ok(tt.cmd)
		for _, w := range tt.want {
			if !contains(u, w) {
				t.Errorf("%s: missing %q in %q", tt.cmd, w, u)
			}
		}
		for _, b := range tt.ban {
			if contains(u, b) {
				t.Errorf("%s: unexpected %q in %q", tt.cmd, b, u)
			}
		}
	}
}

// A pattern or reference that is not valid modified UTF-7 is matched
// literally against the names as the client sees them (issue 17).
func TestListInvalidUTF7Pattern(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.ok(`CREATE "&Jjo-"`) // ☺
	r.ok(`CREATE "&Jjo-/x"`)
	tests := []struct {
		cmd  string
		want []string
	}{
		{`LIST "" "*&*"`, []string{`"&Jjo-"`, `"&Jjo-/x"`}},
		{`LIST "" "%&%"`, []string{`"&Jjo-"`}},
		{`LIST "" "&Jjo"`, nil},
		{`LIST "" "&Jjo-"`, []string{`"&Jjo-"`}},
		{`LIST "&" "*"`, nil},
		{`LIST "&Jjo-&" "*"`, nil},
		{`LIST "" "&Jjo-/&"`, nil},
		{`LIST "" "&Jjo-/x&*"`, nil},
	}
	for _, tt := range tests {
		u := r.ok(tt.cmd)
		if len(u) != len(tt.want) {
			t.Errorf("%s: %q, want %q", tt.cmd, u, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !contains(u, w) {
				t.Errorf("%s: missing %q in %q", tt.cmd, w, u)
			}
		}
	}
}

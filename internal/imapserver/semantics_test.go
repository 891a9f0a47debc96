package imapserver

import (
	"fmt"
	"testing"
)

// Issue 17 item 3: semantics an outside compliance suite found wrong in
// the store and msgmeta layers, checked through the wire.

// TestInternalDateRange: INTERNALDATE keeps any date a client may send,
// the epoch and the last day of year 9999 included (they came back as
// year 1 and 1816 when the store kept nanoseconds).
func TestInternalDateRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	dates := []string{
		"01-Jan-1970 00:00:00 +0000",
		"31-Dec-9999 23:59:59 +0000",
		"01-Jan-1000 12:00:00 +0000",
		"21-Sep-2262 00:00:00 +0000",
	}
	for _, d := range dates {
		body := testMsg("dated", d)
		r.write(fmt.Sprintf("a APPEND INBOX \"%s\" {%d+}\r\n%s\r\n", d, len(body), body))
		if l := r.line(); len(l) < 4 || l[:4] != "a OK" {
			t.Fatalf("APPEND %s: %q", d, l)
		}
	}
	r.ok("SELECT INBOX")
	for i, d := range dates {
		u := r.ok(fmt.Sprintf("FETCH %d INTERNALDATE", i+1))
		want := fmt.Sprintf("* %d FETCH (INTERNALDATE %q)", i+1, d)
		if len(u) != 1 || u[0] != want {
			t.Errorf("FETCH %d: %q, want %q", i+1, u, want)
		}
	}
	// SINCE/BEFORE work on the whole range.
	tests := []struct{ query, want string }{
		{"BEFORE 2-Jan-1970", "* SEARCH 1 3"},
		{"SINCE 1-Jan-3000", "* SEARCH 2"},
		{"ON 31-Dec-9999", "* SEARCH 2"},
	}
	for _, tt := range tests {
		if u := r.ok("SEARCH " + tt.query); len(u) != 1 || u[0] != tt.want {
			t.Errorf("SEARCH %s = %q, want %q", tt.query, u, tt.want)
		}
	}
}

// appendRaw APPENDs a message with a non-synchronising literal.
func (r *raw) appendRaw(mailbox, msg string) {
	r.t.Helper()
	r.ok(fmt.Sprintf("APPEND %s {%d+}\r\n%s", mailbox, len(msg), msg))
}

// TestEnvelopeGroupsAndRoutes: ENVELOPE reports groups with the start and
// end markers of RFC 3501 §7.4.2 (empty groups too) and a source route in
// the adl field.
func TestEnvelopeGroupsAndRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.appendRaw("INBOX", "From: <@route.example:user@domain.example>\r\n"+
		"To: group: a@b.example, \"C D\" <c@d.example>;, solo@x.example\r\n"+
		"Cc: undisclosed-recipients:;\r\n"+
		"Subject: groups\r\n\r\nbody\r\n")
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 ENVELOPE")
	want := `* 1 FETCH (ENVELOPE (NIL "groups" ` +
		`((NIL "@route.example" "user" "domain.example")) ((NIL "@route.example" "user" "domain.example")) ((NIL "@route.example" "user" "domain.example")) ` +
		`((NIL NIL "group" NIL)(NIL NIL "a" "b.example")("C D" NIL "c" "d.example")(NIL NIL NIL NIL)(NIL NIL "solo" "x.example")) ` +
		`((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL))`
	if len(u) != 1 || u[0] != want {
		t.Errorf("ENVELOPE\n got %q\nwant %q", u, want)
	}
}

// TestSearchAddressComments: FROM/TO/CC/BCC match the addresses of the
// envelope, whatever comments the header puts inside them.
func TestSearchAddressComments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.appendRaw("INBOX", "From: <user-from (comment)@ (comment) domain.org>\r\n"+
		"To: <user-to (comment)@ (comment) domain.org>\r\n"+
		"Cc: <user-cc (comment)@ (comment) domain.org>\r\n"+
		"Bcc: <user-bcc (comment)@ (comment) domain.org>\r\n"+
		"Subject: comments\r\n\r\nbody\r\n")
	r.appendRaw("INBOX", testMsg("other", "body"))
	r.ok("SELECT INBOX")
	for _, q := range []string{
		"FROM user-from@domain.org", "TO user-to@domain.org", "CC user-cc@domain.org", "BCC user-bcc@domain.org",
		"FROM user-from", "FROM domain.org", "TO USER-TO@DOMAIN.ORG",
	} {
		if u := r.ok("SEARCH " + q); len(u) != 1 || u[0] != "* SEARCH 1" {
			t.Errorf("SEARCH %s = %q, want 1", q, u)
		}
	}
	if u := r.ok("SEARCH FROM bob@ext.test"); len(u) != 1 || u[0] != "* SEARCH 2" {
		t.Errorf("SEARCH FROM bob = %q", u)
	}
}

// TestSearchSentDateZone: SENTON/SENTBEFORE/SENTSINCE compare the date as
// written in the Date header, in its own time zone (RFC 9051 §6.4.4), not
// the date in UTC or in the server's zone.
func TestSearchSentDateZone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.appendRaw("INBOX", "Date: Tue, 03 Mar 2026 23:30:00 -0500\r\nSubject: late\r\n\r\nx\r\n")  // 4 Mar in UTC
	r.appendRaw("INBOX", "Date: Wed, 04 Mar 2026 01:00:00 +1400\r\nSubject: early\r\n\r\nx\r\n") // 3 Mar in UTC
	r.ok("SELECT INBOX")
	tests := []struct{ query, want string }{
		{"SENTON 3-Mar-2026", "* SEARCH 1"},
		{"SENTON 4-Mar-2026", "* SEARCH 2"},
		{"SENTBEFORE 4-Mar-2026", "* SEARCH 1"},
		{"SENTSINCE 4-Mar-2026", "* SEARCH 2"},
		{"SENTSINCE 3-Mar-2026 SENTBEFORE 5-Mar-2026", "* SEARCH 1 2"},
	}
	for _, tt := range tests {
		if u := r.ok("SEARCH " + tt.query); len(u) != 1 || u[0] != tt.want {
			t.Errorf("SEARCH %s = %q, want %q", tt.query, u, tt.want)
		}
	}
}

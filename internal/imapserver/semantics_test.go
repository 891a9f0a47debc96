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

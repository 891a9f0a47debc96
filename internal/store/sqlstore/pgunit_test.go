package sqlstore

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/store"
)

func TestNotifyPayload(t *testing.T) {
	changes := []store.Change{
		{Kind: store.MessagesChanged, AccountID: 3, MailboxID: 7, ModSeq: 42},
		{Kind: store.MailboxesChanged, AccountID: 3},
	}
	p := notifyPayload("node1", changes)
	node, got := parsePayload(p)
	if node != "node1" || !reflect.DeepEqual(got, changes) {
		t.Fatalf("round trip of %q = %s %+v", p, node, got)
	}
	many := make([]store.Change, 1000)
	p = notifyPayload("n", many)
	if _, got := parsePayload(p); len(p) > 8000 || len(got) != 1 || got[0].Kind != store.Resync {
		t.Fatalf("oversized payload %d bytes → %+v", len(p), got)
	}
	for _, bad := range []string{"", "n 1,2,3", "n a,b,c,d"} {
		if _, got := parsePayload(bad); len(got) != 1 || got[0].Kind != store.Resync {
			t.Errorf("parsePayload(%q) = %+v", bad, got)
		}
	}
}

func TestPGText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"nul\x00byte":      "nul\uFFFDbyte",
		"latin1 \xe9t\xe9": "latin1 \uFFFDt\uFFFD",
	} {
		if got := pgText(in); got != want {
			t.Errorf("pgText(%q) = %q", in, got)
		}
	}
}

func TestLexemes(t *testing.T) {
	got := lexemes("Überraschung! Pizza, pizza; naïve " + strings.Repeat("x", 300) + " café\xff")
	want := []string{"uberraschung", "pizza", "naive", strings.Repeat("x", maxLexeme), "cafe\uFFFD"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lexemes = %q", got)
	}
	if q := pgTSQuery([]string{"Numbers fine", "!"}, ""); q != `'numbers':* & 'fine':*` {
		t.Fatalf("tsquery = %q", q)
	}
}

func TestHeaderLines(t *testing.T) {
	h := "Subject: =?UTF-8?Q?Caf=C3=A9?=\r\n plans\r\nX-Tag:  A.B*\r\nbroken line\r\n"
	if got := headerLines(h); got != "subject:café plans\nx-tag:a.b*\n" {
		t.Fatalf("headerLines = %q", got)
	}
	if got := reQuote("a.b*(é)"); got != `a\.b\*\(é\)` {
		t.Fatalf("reQuote = %q", got)
	}
}

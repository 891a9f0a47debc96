package msgmeta

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	t.Parallel()
	end := Address{}
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@b.example", []Address{{Mailbox: "a", Host: "b.example"}}},
		{`"Doe, John" <john@x.example>, jane@y.example`,
			[]Address{{Name: "Doe, John", Mailbox: "john", Host: "x.example"}, {Mailbox: "jane", Host: "y.example"}}},
		{"John Q. Public <jqp@x.example>", []Address{{Name: "John Q. Public", Mailbox: "jqp", Host: "x.example"}}},
		{"=?utf-8?q?J=C3=B6rg?= <j@x.example>", []Address{{Name: "Jörg", Mailbox: "j", Host: "x.example"}}},
		{"j@x.example (Old Style)", []Address{{Name: "Old Style", Mailbox: "j", Host: "x.example"}}},
		// Comments anywhere (RFC 5322 §4.4).
		{"<user-from (comment)@ (comment) domain.org>", []Address{{Mailbox: "user-from", Host: "domain.org"}}},
		// Groups (RFC 5322 §3.4) with the ENVELOPE's markers.
		{"group: a@b.example, c@d.example;",
			[]Address{{Mailbox: "group"}, {Mailbox: "a", Host: "b.example"}, {Mailbox: "c", Host: "d.example"}, end}},
		{"undisclosed-recipients:;", []Address{{Mailbox: "undisclosed-recipients"}, end}},
		{"x@y.example, Team: <a@b.example>; z@w.example",
			[]Address{{Mailbox: "x", Host: "y.example"}, {Mailbox: "Team"}, {Mailbox: "a", Host: "b.example"}, end, {Mailbox: "z", Host: "w.example"}}},
		{"open: a@b.example", []Address{{Mailbox: "open"}, {Mailbox: "a", Host: "b.example"}, end}},
		// Source routes (obs-route) go to the ADL.
		{"<@route:user@domain.example>", []Address{{ADL: "@route", Mailbox: "user", Host: "domain.example"}}},
		{"Name <@r1.example,@r2.example:u@d.example>",
			[]Address{{Name: "Name", ADL: "@r1.example,@r2.example", Mailbox: "u", Host: "d.example"}}},
		{`"quoted local"@x.example`, []Address{{Mailbox: "quoted local", Host: "x.example"}}},
		{"u@[192.0.2.1]", []Address{{Mailbox: "u", Host: "[192.0.2.1]"}}},
		// Not addresses: skipped.
		{"", nil},
		{"nobody", nil},
		{"<>", nil},
		{`"unclosed <a@b.example>`, nil},
	}
	for _, tt := range tests {
		if got := parseAddressList(tt.in, maxAddresses); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseAddressList(%q) =\n %+v, want\n %+v", tt.in, got, tt.want)
		}
	}
}

// TestParseAddressListBounded: the cap holds and group markers stay paired.
func TestParseAddressListBounded(t *testing.T) {
	t.Parallel()
	in := "g: " + strings.Repeat("a@b.example, ", 50) + ";"
	got := parseAddressList(in, 10)
	if len(got) != 10 || !got[0].IsGroupStart() || !got[9].IsGroupEnd() {
		t.Fatalf("bounded: %d %+v", len(got), got)
	}
}

func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{"a@b", "g: a@b, <@r:c@d>;", `"x\"y" (c (n)) <u@h>`, "u:;;,<", "(((", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseAddressList(s, 20)
		if len(got) > 20 {
			t.Fatalf("%d addresses", len(got))
		}
		open := false
		for _, a := range got {
			switch {
			case a.IsGroupStart():
				if open {
					t.Fatalf("nested group in %+v", got)
				}
				open = true
			case a.IsGroupEnd():
				if !open {
					t.Fatalf("group end without start in %+v", got)
				}
				open = false
			}
		}
		if open {
			t.Fatalf("unterminated group in %+v", got)
		}
	})
}

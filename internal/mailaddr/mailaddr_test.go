package mailaddr

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		local    string
		domain   string
		key      string
		err      error
		trick    bool
		rendered string
	}{
		{in: "User@Example.TEST", local: "User", domain: "example.test", key: "user@example.test", rendered: "User@example.test"},
		{in: "a.b+tag@example.test.", local: "a.b+tag", domain: "example.test", key: "a.b+tag@example.test"},
		{in: `"john doe"@example.test`, local: "john doe", domain: "example.test", rendered: `"john doe"@example.test`},
		{in: `"v@ext.test"@ours.test`, local: "v@ext.test", domain: "ours.test", trick: true},
		{in: "v%ext.test@ours.test", local: "v%ext.test", domain: "ours.test", trick: true},
		{in: "ext.test!v@ours.test", local: "ext.test!v", domain: "ours.test", trick: true},
		{in: "v@[127.0.0.1]", local: "v", domain: "[127.0.0.1]"},
		{in: "üser@bücher.example", local: "üser", domain: "xn--bcher-kva.example"},
		{in: "@ours.test:v@ext.test", err: ErrSourceRoute},
		{in: `"v@ext.test"`, err: ErrSyntax},
		{in: "", err: ErrEmpty},
		{in: "noat", err: ErrSyntax},
		{in: "a..b@example.test", err: ErrSyntax},
		{in: ".a@example.test", err: ErrSyntax},
		{in: "a@-bad.test", err: ErrSyntax},
		{in: "a@b..test", err: ErrSyntax},
		{in: "a b@example.test", err: ErrSyntax},
		{in: strings.Repeat("a", 65) + "@example.test", err: ErrTooLong},
		{in: "a@" + strings.Repeat("b", 300), err: ErrTooLong},
		{in: "\"a\x00\"@example.test", err: ErrSyntax},
		{in: "a@[1.2.3.4", err: ErrSyntax},
		// Non-printing characters: a bidi override would reorder the
		// Return-Path a reader sees; C1 controls and separators break lines.
		{in: "\u202eevil@example.test", err: ErrSyntax},
		{in: "a\u200bb@example.test", err: ErrSyntax},
		{in: "a\u0085b@example.test", err: ErrSyntax},
		{in: "a\u2028b@example.test", err: ErrSyntax},
		{in: "a\u00a0b@example.test", err: ErrSyntax},
		{in: "\"a\u202eb\"@example.test", err: ErrSyntax},
		{in: "\"jürgen b\"@example.test", local: "jürgen b", domain: "example.test"},
		{in: "δοκιμή@example.test", local: "δοκιμή", domain: "example.test"},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Parse(%q) err = %v, want %v", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if a.Local != tt.local || a.Domain != tt.domain {
			t.Errorf("Parse(%q) = %q @ %q, want %q @ %q", tt.in, a.Local, a.Domain, tt.local, tt.domain)
		}
		if tt.key != "" && a.Key() != tt.key {
			t.Errorf("Parse(%q).Key() = %q, want %q", tt.in, a.Key(), tt.key)
		}
		if tt.rendered != "" && a.String() != tt.rendered {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, a.String(), tt.rendered)
		}
		if a.HasRelayTrick() != tt.trick {
			t.Errorf("Parse(%q).HasRelayTrick() = %v", tt.in, a.HasRelayTrick())
		}
	}
}

func TestPlusTag(t *testing.T) {
	t.Parallel()
	a := MustParse("Bob+Lists@Example.test")
	if a.Base().Key() != "bob@example.test" || a.Tag() != "Lists" {
		t.Fatalf("Base = %v, Tag = %q", a.Base(), a.Tag())
	}
	if b := MustParse("+x@example.test"); b.Base() != b {
		t.Fatalf("leading plus must not be a tag: %v", b.Base())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a@b.test", `"x y"@z.test`, "@a:b@c", "ü@ü.test", "a@[IPv6:::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		// A parsed address renders to something that parses to the same address.
		b, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but re-parse of %q: %v", s, a.String(), err)
		}
		if b != a {
			t.Fatalf("round trip %q: %#v != %#v", s, a, b)
		}
	})
}

package mutf7

import (
	"testing"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"A&B", "A&-B"},
		{"日本語", "&ZeVnLIqe-"},
		{"Gesendete Objekte", "Gesendete Objekte"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀", "&2D3eAA-"},
	} {
		if got := Encode(c.utf8); got != c.mutf7 {
			t.Errorf("Encode(%q) = %q, want %q", c.utf8, got, c.mutf7)
		}
		if got, err := Decode(c.mutf7); err != nil || got != c.utf8 {
			t.Errorf("Decode(%q) = %q, %v", c.mutf7, got, err)
		}
	}
	for _, bad := range []string{"&", "&Jjo", "&2D0-", "a\x80", "&Jj=-"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"INBOX", "Entw&APw-rfe", "&-", "&ZeVnLIqe-", "&2D3eAA-x", "&AGE-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(d) {
			t.Fatalf("Decode(%q) = invalid UTF-8", s)
		}
		if d2, err := Decode(Encode(d)); err != nil || d2 != d {
			t.Fatalf("round trip of %q: %q %v", d, d2, err)
		}
	})
}

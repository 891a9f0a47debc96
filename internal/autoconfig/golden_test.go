package autoconfig

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kantorpos/kantorpos/internal/admin"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// standard is a server with the usual ports.
var standard = admin.Published{Hostname: "mail.example.com", Submission: 587, Submissions: 465,
	IMAP: 143, IMAPS: 993, POP3: 110, POP3S: 995}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	onlyTLS := admin.Published{Hostname: "mx.example.org", Submission: -1, Submissions: 465, IMAP: -1, IMAPS: 993, POP3: -1, POP3S: -1}
	starttlsOnly := admin.Published{Hostname: "mx.example.org", Submission: 587, Submissions: -1, IMAP: -1, IMAPS: -1, POP3: 110, POP3S: -1}
	for _, tt := range []struct {
		name string
		doc  func() ([]byte, bool)
	}{
		{"thunderbird.xml", func() ([]byte, bool) { return Thunderbird(standard, "example.com") }},
		{"thunderbird-tls-only.xml", func() ([]byte, bool) { return Thunderbird(onlyTLS, "example.org") }},
		{"autodiscover.xml", func() ([]byte, bool) { return Autodiscover(standard, "alice@example.com") }},
		{"autodiscover-starttls.xml", func() ([]byte, bool) { return Autodiscover(starttlsOnly, "bob@example.org") }},
		{"apple.mobileconfig", func() ([]byte, bool) { return AppleProfile(standard, "alice@example.com") }},
		{"apple-pop3.mobileconfig", func() ([]byte, bool) { return AppleProfile(starttlsOnly, "o'hara&co@example.org") }},
	} {
		doc, ok := tt.doc()
		if !ok {
			t.Fatalf("%s: not built", tt.name)
		}
		golden(t, tt.name, doc)
	}
	none := admin.Published{Hostname: "mx.example.org", Submission: 587, Submissions: -1, IMAP: -1, IMAPS: -1, POP3: -1, POP3S: -1}
	if _, ok := Thunderbird(none, "example.org"); ok {
		t.Error("thunderbird document without incoming service")
	}
	if _, ok := Autodiscover(none, "a@example.org"); ok {
		t.Error("autodiscover document without incoming service")
	}
	if _, ok := AppleProfile(none, "a@example.org"); ok {
		t.Error("apple profile without incoming service")
	}
}

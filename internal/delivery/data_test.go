package delivery

import (
	"bytes"
	"strings"
	"testing"
)

// smugglingCases are bodies with non-standard line ends and end-of-data
// look-alikes (CVE-2023-51764 class). wire is the exact DATA stream the
// peer must see after "DATA\r\n" (CRLF-only, dot-stuffed, then ".\r\n");
// text is what the peer stores after removing the dot-stuffing.
var smugglingCases = []struct {
	name, body, wire, text string
}{
	{"LF . CRLF",
		"a\n.\r\nMAIL FROM:<evil@x>\r\n",
		"a\r\n..\r\nMAIL FROM:<evil@x>\r\n.\r\n",
		"a\r\n.\r\nMAIL FROM:<evil@x>\r\n"},
	{"CR . CRLF",
		"a\r.\r\nRCPT TO:<evil@x>\r\n",
		"a\r\n..\r\nRCPT TO:<evil@x>\r\n.\r\n",
		"a\r\n.\r\nRCPT TO:<evil@x>\r\n"},
	{"LF . LF",
		"a\n.\nDATA\n",
		"a\r\n..\r\nDATA\r\n.\r\n",
		"a\r\n.\r\nDATA\r\n"},
	{"CRLF . LF",
		"a\r\n.\nQUIT\r\n",
		"a\r\n..\r\nQUIT\r\n.\r\n",
		"a\r\n.\r\nQUIT\r\n"},
	{"CRLF . CR",
		"a\r\n.\rQUIT\r\n",
		"a\r\n..\r\nQUIT\r\n.\r\n",
		"a\r\n.\r\nQUIT\r\n"},
	{"lone dot line",
		"Subject: x\r\n\r\n.\r\nafter\r\n",
		"Subject: x\r\n\r\n..\r\nafter\r\n.\r\n",
		"Subject: x\r\n\r\n.\r\nafter\r\n"},
	{"dot first in body and leading dots",
		".x\r\n..y\r\n",
		"..x\r\n...y\r\n.\r\n",
		".x\r\n..y\r\n"},
	{"bare LF lines",
		"one\ntwo\nthree",
		"one\r\ntwo\r\nthree\r\n.\r\n",
		"one\r\ntwo\r\nthree\r\n"},
	{"bare CR lines",
		"one\rtwo\r",
		"one\r\ntwo\r\n.\r\n",
		"one\r\ntwo\r\n"},
	{"CR CR LF",
		"one\r\r\ntwo\r\n",
		"one\r\n\r\ntwo\r\n.\r\n",
		"one\r\n\r\ntwo\r\n"},
	{"body ends with a dot and no newline",
		"a\r\n.",
		"a\r\n..\r\n.\r\n",
		"a\r\n.\r\n"},
	{"empty body", "", ".\r\n", ""},
}

// TestDataWriter checks the writer byte by byte, fed in every split, so
// that state carried across writes (a CR at the end of one write, a dot at
// the start of the next) is covered.
func TestDataWriter(t *testing.T) {
	t.Parallel()
	for _, tc := range smugglingCases {
		for split := 0; split <= len(tc.body); split++ {
			var out bytes.Buffer
			w := newDataWriter(&out)
			if _, err := w.Write([]byte(tc.body[:split])); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(tc.body[split:])); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.wire {
				t.Errorf("%s split at %d: got %q, want %q", tc.name, split, out.String(), tc.wire)
			}
		}
	}
}

// FuzzDataWriter checks the invariants of the DATA stream for any body:
// only CRLF line ends, exactly one end-of-data at the very end, and
// un-stuffing gives back the body with normalised line ends.
func FuzzDataWriter(f *testing.F) {
	for _, tc := range smugglingCases {
		f.Add([]byte(tc.body), 3)
	}
	f.Fuzz(func(t *testing.T, body []byte, split int) {
		var out bytes.Buffer
		w := newDataWriter(&out)
		if split < 0 || split > len(body) {
			split = len(body) / 2
		}
		w.Write(body[:split]) //nolint:errcheck // bytes.Buffer does not fail
		w.Write(body[split:]) //nolint:errcheck
		w.Close()             //nolint:errcheck
		s := out.String()
		if !strings.HasSuffix(s, ".\r\n") {
			t.Fatalf("no end of data: %q", s)
		}
		lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
		for i, l := range lines {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("bare CR or LF in %q", s)
			}
			if l == "." && i != len(lines)-1 {
				t.Fatalf("end of data before the end: %q", s)
			}
		}
		// Un-stuff and compare with the normalised body.
		var text strings.Builder
		for _, l := range lines[:len(lines)-1] {
			text.WriteString(strings.TrimPrefix(l, "."))
			text.WriteString("\r\n")
		}
		norm := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(string(body))
		if norm != "" && !strings.HasSuffix(norm, "\r\n") {
			norm += "\r\n"
		}
		if text.String() != norm {
			t.Fatalf("round trip: got %q, want %q", text.String(), norm)
		}
	})
}

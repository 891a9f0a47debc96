package mailhdr

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	t.Parallel()
	long := "X: " + strings.Repeat("a", 5000) + "\r\n" // longer than the buffer
	tests := []struct {
		name, in, hdr string
		max           int
		err           error
	}{
		{"crlf", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n", 100, nil},
		{"lf", "A: 1\n\nbody", "A: 1\n\n", 100, nil},
		{"no header", "\r\nbody\r\n", "\r\n", 100, nil},
		{"no body", "A: 1\r\n", "A: 1\r\n", 100, nil},
		{"no final line ending", "A: 1", "A: 1", 100, nil},
		{"folded", "A: 1\r\n continued\r\n\r\n", "A: 1\r\n continued\r\n\r\n", 100, nil},
		{"long line", long + "\r\nb", long + "\r\n", 10000, nil},
		{"too long", long + "\r\nb", "", 1000, ErrTooLarge},
		{"exactly max", "A: 1\r\n\r\nb", "A: 1\r\n\r\n", 8, nil},
		{"one past max", "A: 1\r\n\r\nb", "", 7, ErrTooLarge},
		{"empty line inside a long line is not the end", "X: " + strings.Repeat("a", 4093) + "\r\n\r\nB",
			"X: " + strings.Repeat("a", 4093) + "\r\n\r\n", 10000, nil},
	}
	for _, tc := range tests {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		if strings.Contains(tc.name, "long") {
			br = bufio.NewReader(strings.NewReader(tc.in))
		}
		hdr, err := Read(br, tc.max)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			continue
		}
		rest, _ := io.ReadAll(br)
		if err == nil && (string(hdr) != tc.hdr || string(hdr)+string(rest) != tc.in) {
			t.Errorf("%s: hdr %q rest %q", tc.name, hdr, rest)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	hdr := "Received: from a\r\n\tby b; x\r\nFROM: A <a@x.test>,\r\n b@x.test\r\nX-Empty:\r\nSubject:a\nmessage-id: <1@x>\r\n\r\nBody: no\r\n"
	fs, err := Parse([]byte(hdr))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Name+"="+f.Value())
	}
	want := "Received=from a\tby b; x|FROM=A <a@x.test>, b@x.test|X-Empty=|Subject=a|message-id=<1@x>"
	if s := strings.Join(got, "|"); s != want {
		t.Errorf("got  %q\nwant %q", s, want)
	}
	total := 0
	for _, f := range fs {
		total += len(f.Raw)
	}
	if total != strings.Index(hdr, "\r\n\r\n")+2 {
		t.Errorf("fields hold %d bytes", total)
	}
}

// TestParseInvalid: each line that is not a field (issue 19 item 1:
// "From : alice" was skipped by one reader and read as From by another).
func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, hdr := range []string{
		"From : alice@x.test\r\nFrom: bob@x.test\r\n\r\n",
		"From\t: alice@x.test\r\n\r\n",
		"Subject: a\r\nno colon line\r\n\r\n",
		"From alice@x.test  Mon Jan 1 00:00:00 2024\r\nSubject: a\r\n\r\n",
		" continues nothing\r\nSubject: a\r\n\r\n",
		": empty name\r\n\r\n",
		"Bad\x00Name: x\r\n\r\n",
		"N\xc3\xa4me: x\r\n\r\n",
		"Subject: a\r\nlast line",
		"Subject: a\r\n\x7fDel: x\r\n\r\n",
	} {
		if _, err := Parse([]byte(hdr)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err %v, want ErrSyntax", hdr, err)
		}
	}
	for _, hdr := range []string{"\r\n", "", "\n", "X-A: \r\n\r\n", "Subject: a\r\n\tb\r\n\r\n not: parsed\r\n", "Subject:a"} {
		if _, err := Parse([]byte(hdr)); err != nil {
			t.Errorf("%q: %v", hdr, err)
		}
	}
}

// FuzzHeader: Read returns a prefix of its input; Parse never panics, its
// fields hold the bytes of the header section in order, and every name is
// a valid field name.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		"From: a@example.test\r\nSubject: x\r\n\r\nbody",
		"From : a\r\nFrom: b\r\n\r\n",
		" x\n:\nA: b\n\tc\n\n",
		"X: " + strings.Repeat("a", 40) + "\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, size uint16) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16+int(size%4096))
		h, err := Read(br, 1<<12)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Read: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(data, h) {
			t.Fatalf("header %q is not a prefix of the input", h)
		}
		fs, err := Parse(h)
		if err != nil {
			return
		}
		var joined []byte
		for _, fl := range fs {
			if !validName([]byte(fl.Name)) || fl.Name == "" {
				t.Fatalf("field name %q", fl.Name)
			}
			_ = fl.Value()
			joined = append(joined, fl.Raw...)
		}
		if !bytes.HasPrefix(h, joined) {
			t.Fatalf("fields %q are not the start of the header %q", joined, h)
		}
	})
}

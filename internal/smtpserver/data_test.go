package smtpserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kantorpos/kantorpos/internal/mailhdr"
)

func TestStrictReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		good   string // bytes passed before the error
		want   error
		lostCR bool // the connection's guard saw a "." + bare CR line
	}{
		{"a\r\nb\r\n", "a\r\nb\r\n", nil, false},
		{"", "", nil, false},
		{"a\nb\r\n", "a", ErrBareLineEnding, false},
		{"a\r\nb\rc\r\n", "a\r\nb\r", ErrBareLineEnding, false}, // the CR passes; the error aborts the blob
		{"a\r", "a\r", ErrBareLineEnding, false},
		{"\r\r\n", "\r", ErrBareLineEnding, false},
		// Issue 19 item 14: NUL is refused (RFC 2045 2.8), and so is a
		// content in which go-smtp dropped a ".\r".
		{"x\r\n\x00.\r\n", "x\r\n", ErrNUL, false},
		{"Sub\x00ject: a\r\n\r\n", "Sub", ErrNUL, false},
		{"a\r\nX\r\n", "a\r\nX\r\n", ErrBareLineEnding, true},
		{"", "", ErrBareLineEnding, true},
	}
	for _, tc := range tests {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			sr := &strictReader{r: r}
			if tc.lostCR {
				sr.lostCR = func() bool { return true }
			}
			out, err := io.ReadAll(sr)
			bad := tc.want != nil
			if bad && !errors.Is(err, tc.want) || !bad && err != nil {
				t.Errorf("%q (one byte %v): err %v, want %v", tc.in, oneByte, err, tc.want)
			}
			if !bad && string(out) != tc.good || bad && !strings.HasPrefix(tc.good, string(out)) {
				t.Errorf("%q (one byte %v): passed %q", tc.in, oneByte, out)
			}
		}
	}
}

func TestParseFields(t *testing.T) {
	t.Parallel()
	hdr := "Received: from a\r\n\tby b; x\r\nFROM: A <a@x.test>,\r\n b@x.test\r\nSender: s@x.test\r\nresent-from: r@x.test\r\nmessage-id: <1@x>\r\n\r\nBody: no\r\n"
	fs, err := parseFields([]byte(hdr))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name+"="+f.Value())
	}
	want := "Received=from a\tby b; x|FROM=A <a@x.test>, b@x.test|Sender=s@x.test|resent-from=r@x.test|message-id=<1@x>"
	if got := strings.Join(names, "|"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	info := inspectHeader(fs)
	if info.received != 1 || len(info.from) != 1 || len(info.sender) != 1 || len(info.resent) != 1 || !info.messageID || info.date {
		t.Errorf("info %+v", info)
	}
	list, ok := parseMailboxes(info.from[0])
	if !ok || len(list) != 2 || list[0].Address != "a@x.test" || list[1].Address != "b@x.test" {
		t.Errorf("from %v %v", list, ok)
	}
}

// TestParseFieldsInvalid: a line that is not a header field makes the
// header section invalid (issue 19 item 1: "From : alice" was skipped by
// our check and read as From by others).
func TestParseFieldsInvalid(t *testing.T) {
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
	} {
		if _, err := parseFields([]byte(hdr)); !errors.Is(err, errHeaderSyntax) {
			t.Errorf("%q: err %v, want errHeaderSyntax", hdr, err)
		}
	}
	for _, hdr := range []string{"\r\n", "", "X-A: \r\n\r\n", "Subject: a\r\n\tb\r\n\r\nbody: x\r\n :x\r\n", "Subject:a"} {
		if _, err := parseFields([]byte(hdr)); err != nil {
			t.Errorf("%q: %v", hdr, err)
		}
	}
}

// TestNameAddresses: the addresses a display name shows.
func TestNameAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"Alice", ""},
		{"alice@example.test", "alice@example.test"},
		{"Alice (alice@example.test)", "alice@example.test"},
		{"'alice@example.test' via list", "alice@example.test"},
		{"mailto:alice@example.test.", "alice@example.test"},
		{"alice＠example.test", "alice@example.test"},
		{"@handle at the office", ""},
		{"a@b.test c@d.test", "a@b.test,c@d.test"},
	}
	for _, tc := range tests {
		var got []string
		for _, a := range nameAddresses(tc.name) {
			got = append(got, a.String())
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%q: %v, want %q", tc.name, got, tc.want)
		}
	}
	if n := len(nameAddresses(strings.Repeat("a@b.test ", 100))); n != maxNameAddresses+1 {
		t.Errorf("%d addresses, want %d", n, maxNameAddresses+1)
	}
}

func TestReceivedHeader(t *testing.T) {
	t.Parallel()
	h := string(receivedHeader(receivedInfo{helo: "evil\r\nX-Injected: 1 (", hostname: "mx.test", id: "abc", rcpt: "a@b>;\r\nX: y"}))
	if strings.Count(h, "\r\n") != 4 || strings.Contains(h, "\r\nX") || !strings.HasPrefix(h, "Received: from [unknown] (helo=evil??X-Injected:?1??)\r\n") {
		t.Errorf("%q", h)
	}
	for _, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line too long: %q", line)
		}
	}
}

func TestCmdGuard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\n", 0},
		{"get / HTTP/1.1\r\n", 0},
		{"EHLO x\r\nPOST / HTTP/1.1\r\n", 8},
		{"EHLO x\r\nGETX\r\n", -1},
		{"GET\r\n", -1},
		{"EHLO x\r\nDATA\r\nGET / HTTP/1.1\r\n.\r\nGET /\r\n", 33},
		{"DATA\r\nx\n.\nGET / x\r\n", -1},   // still in DATA for go-smtp
		{"BDAT 7\r\nGET / x\r\nHEAD /", 17}, // the chunk is content
		{"BDAT 7 LAST\r\nGET / x\r\n", -1},
		{"BDAT x\r\nGET / x\r\n", 8},
		{"STARTTLS\r\nGET / \r\n", -1},
		{"AUTH PLAIN\r\nPOST\r\n", -1},
	}
	for _, tc := range tests {
		if got := newCmdGuard().scan([]byte(tc.in)); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.in, got, tc.want)
		}
		// Byte by byte, the verb is found at the same place.
		g, got := newCmdGuard(), -1
		for i := 0; i < len(tc.in) && got < 0; i++ {
			if g.scan([]byte{tc.in[i]}) >= 0 {
				got = i
			}
		}
		if (got >= 0) != (tc.want >= 0) {
			t.Errorf("%q byte by byte: %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestCmdGuardDotCR: the guard notes a DATA line that starts with "." and
// a bare CR (go-smtp drops both bytes), and nothing else.
func TestCmdGuardDotCR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"DATA\r\nx\r\n.\rX\r\n.\r\n", true},
		{"DATA\r\n.\rX\r\n.\r\n", true}, // the first line of the content
		{"DATA\r\nx\r\n.\r.\r\n.\r\n", true},
		{"DATA\r\nx\r\n.\r\n", false},
		{"DATA\r\nx\r\n..\rX\r\n.\r\n", false}, // dot-stuffed: the bare CR reaches the session
		{"DATA\r\nx\r\n.\r\n.\rX\r\n", false},  // after the end: a command line
		{"EHLO x\r\n.\rX\r\n", false},
		{"BDAT 5\r\n.\rX\r\n", false},
		{"STARTTLS\r\nDATA\r\n.\rX", false}, // TLS records: not looked at
	}
	for _, tc := range tests {
		g := newCmdGuard()
		g.scan([]byte(tc.in))
		one := newCmdGuard()
		for i := 0; i < len(tc.in); i++ {
			one.scan([]byte{tc.in[i]})
		}
		if g.dotCR != tc.want || one.dotCR != tc.want {
			t.Errorf("%q: dotCR %v (byte by byte %v), want %v", tc.in, g.dotCR, one.dotCR, tc.want)
		}
	}
}

// FuzzDataReader checks the DATA reader on arbitrary content: it passes
// exactly the input when there is no bare CR or LF and no NUL, fails
// otherwise without passing the bad byte, and the header split never loses
// or invents bytes.
func FuzzDataReader(f *testing.F) {
	for _, s := range []string{
		"Subject: a\r\n\r\nbody\r\n", "a\nb", "a\rb", "\r\n", "x\r\n\x00.\r\n", "A: 1\r\n b\r\n\r\n",
		"Received: x\r\nReceived: y\r\n\r\n", "From: =?utf-8?q?x?= <a@b>\r\n\r\n",
		"a\x00\r\n", "\x00", "a\r\x00\n", "A: 1\r\n\r\nbody\x00\r\n",
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		r := io.Reader(bytes.NewReader(in))
		if chunk%2 == 1 {
			r = iotest.HalfReader(r)
		}
		sr := &strictReader{r: r}
		br := bufio.NewReaderSize(sr, 16)
		hdr, err := mailhdr.Read(br, 1<<20)
		var rest []byte
		if err == nil {
			rest, err = io.ReadAll(br)
		}
		bare, nul := hasBareLineEnding(in), bytes.IndexByte(in, 0) >= 0
		// Both: whichever comes first.
		if !bare && !nul && err != nil || bare && !nul && !errors.Is(err, ErrBareLineEnding) ||
			!bare && nul && !errors.Is(err, ErrNUL) || bare && nul && !errors.Is(err, ErrBareLineEnding) && !errors.Is(err, ErrNUL) {
			t.Fatalf("bare=%v nul=%v err=%v", bare, nul, err)
		}
		out := append(append([]byte{}, hdr...), rest...)
		if !bare && !nul && !bytes.Equal(out, in) {
			t.Fatalf("changed: %q → %q", in, out)
		}
		// What passed the reader is free of bare line endings (a final CR
		// may wait for its LF) and of NUL.
		passed := bytes.TrimSuffix(in[:sr.n], []byte("\r"))
		if hasBareLineEnding(passed) || bytes.IndexByte(passed, 0) >= 0 {
			t.Fatalf("passed a bare line ending or NUL: %q", passed)
		}
		if fs, err := parseFields(hdr); err == nil {
			for _, v := range inspectHeader(fs).from {
				list, _ := parseMailboxes(v)
				for _, a := range list {
					nameAddresses(a.Name)
				}
			}
		}
	})
}

func hasBareLineEnding(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') || c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
	}
	return false
}

// FuzzCmdGuard: scanning in one piece or in two never panics and finds a
// verb in the same line.
func FuzzCmdGuard(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\n", "EHLO x\r\nDATA\r\nGET /\r\n.\r\nPOST /\r\n", "BDAT 3\r\nabcGET /", "STARTTLS\r\n"} {
		f.Add([]byte(s), uint16(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		whole := newCmdGuard().scan(in)
		k := int(split) % (len(in) + 1)
		g := newCmdGuard()
		parts := g.scan(in[:k])
		if parts < 0 {
			if p2 := g.scan(in[k:]); p2 >= 0 {
				parts = k + p2
			}
		}
		if (whole >= 0) != (parts >= 0) {
			t.Fatalf("whole %d, split at %d: %d", whole, k, parts)
		}
	})
}

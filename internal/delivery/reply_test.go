package delivery

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		code     int
		enhanced string
		lines    []string
		err      bool
	}{
		{in: "250 ok\r\n", code: 250, lines: []string{"ok"}},
		{in: "250\r\n", code: 250, lines: []string{""}},
		{in: "220 mx ESMTP\n", code: 220, lines: []string{"mx ESMTP"}}, // bare LF tolerated
		{in: "550 5.1.1 no such user\r\n", code: 550, enhanced: "5.1.1", lines: []string{"no such user"}},
		{in: "550-5.1.1 no such\r\n550-5.1.1 user\r\n550 5.1.1 here\r\n", code: 550, enhanced: "5.1.1",
			lines: []string{"no such", "user", "here"}},
		{in: "250-mx.b.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", code: 250, lines: []string{"mx.b.test", "PIPELINING", "SIZE 1000"}},
		{in: "451 5.1.1 class mismatch\r\n", code: 451, lines: []string{"5.1.1 class mismatch"}},
		{in: "250 2.0.0\r\n", code: 250, enhanced: "2.0.0", lines: []string{""}},
		{in: "250 2.0 not enhanced\r\n", code: 250, lines: []string{"2.0 not enhanced"}},
		{in: "550 5.1.1234 too long detail\r\n", code: 550, lines: []string{"5.1.1234 too long detail"}},
		{in: "250 a\x00b\x1bc\xff\r\n", code: 250, lines: []string{"a?b?c?"}},
		{in: "250-a\r\n251 b\r\n", err: true},       // code changed
		{in: "25 short\r\n", err: true},             // short code
		{in: "650 bad class\r\n", err: true},        // first digit
		{in: "260 bad second digit\r\n", err: true}, // second digit
		{in: "250_bad separator\r\n", err: true},    // separator
		{in: "250-unterminated", err: true},         // EOF
		{in: "", err: true},
		{in: "250 " + strings.Repeat("x", maxReplyLineLen) + "\r\n", err: true},
		{in: strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n", err: true},
	}
	for _, tc := range tests {
		rep, err := readReply(bufio.NewReaderSize(strings.NewReader(tc.in), 16))
		if tc.err {
			if err == nil {
				t.Errorf("%q: no error, got %+v", clip(tc.in), rep)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if rep.Code != tc.code || rep.Enhanced != tc.enhanced || strings.Join(rep.Lines, "|") != strings.Join(tc.lines, "|") {
			t.Errorf("%q: got %d %q %q", tc.in, rep.Code, rep.Enhanced, rep.Lines)
		}
	}
}

func TestReplyString(t *testing.T) {
	t.Parallel()
	r := Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"no such", "user"}}
	if got := r.String(); got != "550 5.1.1 no such user" {
		t.Errorf("got %q", got)
	}
	if got := (Reply{Code: 250}).String(); got != "250" {
		t.Errorf("got %q", got)
	}
}

// FuzzReadReply: the parser never panics, never returns more than the
// bounds allow, and what it returns is safe to log and put in a DSN.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n",
		"250-mx.b.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 DSN\r\n",
		"550-5.1.1 no such\r\n550 5.1.1 user\r\n",
		"421 4.3.2 shutting down\n",
		"250 2.0.0\r\n",
		"220\r\n",
		"250-a\r\n251 b\r\n",
		"550 5.1.1234 x\r\n",
		"250 \xff\x00\x1b\r\n",
		"354 go ahead\r\n",
		"2",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 64)
		for range 4 {
			rep, err := readReply(r)
			if err != nil {
				return
			}
			if rep.Code < 200 || rep.Code > 559 || len(rep.Lines) == 0 || len(rep.Lines) > maxReplyLines {
				t.Fatalf("bad reply %+v", rep)
			}
			if rep.Enhanced != "" && (!validEnhanced(rep.Enhanced) || int(rep.Enhanced[0]-'0') != rep.Code/100) {
				t.Fatalf("bad enhanced code %q for %d", rep.Enhanced, rep.Code)
			}
			for _, l := range rep.Lines {
				if len(l) > maxReplyLineLen*3 || strings.ContainsAny(l, "\r\n\x00") {
					t.Fatalf("unsafe line %q", l)
				}
			}
			if s := rep.String(); strings.ContainsAny(s, "\r\n") {
				t.Fatalf("String has a line break: %q", s)
			}
		}
	})
}

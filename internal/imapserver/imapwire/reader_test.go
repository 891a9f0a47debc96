package imapwire

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// newTestReader returns a reader over in that records continuations.
func newTestReader(in string, lim Limits) (*Reader, *int) {
	conts := new(int)
	r := NewReader(bufio.NewReader(strings.NewReader(in)), lim)
	r.Continue = func() error { *conts++; return nil }
	return r, conts
}

// parseArgs reads astrings until the end of the command.
func parseArgs(r *Reader) ([]string, error) {
	var out []string
	for !r.AtEnd() {
		if err := r.SP(); err != nil {
			return out, err
		}
		s, err := r.AString()
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, r.End()
}

func TestReaderCommands(t *testing.T) {
	tests := []struct {
		name, in  string
		tag, cmd  string
		args      []string
		conts     int
		errStatus string // "" for success
	}{
		{"atoms", "a1 LOGIN user pass\r\n", "a1", "LOGIN", []string{"user", "pass"}, 0, ""},
		{"lower case command", "a1 login user pass\r\n", "a1", "LOGIN", []string{"user", "pass"}, 0, ""},
		{"bare LF", "a1 NOOP\n", "a1", "NOOP", nil, 0, ""},
		{"quoted with escapes", `x SELECT "a \"b\" \\c"` + "\r\n", "x", "SELECT", []string{`a "b" \c`}, 0, ""},
		{"sync literal", "x LOGIN {4}\r\nuser {2}\r\npw\r\n", "x", "LOGIN", []string{"user", "pw"}, 2, ""},
		{"LITERAL+", "x LOGIN {4+}\r\nuser pw\r\n", "x", "LOGIN", []string{"user", "pw"}, 0, ""},
		{"LITERAL-", "x LOGIN {4-}\r\nuser pw\r\n", "x", "LOGIN", []string{"user", "pw"}, 0, ""},
		{"empty literal", "x LOGIN {0}\r\n pw\r\n", "x", "LOGIN", []string{"", "pw"}, 1, ""},
		{"UID command", "u UID fetch 1:* FLAGS\r\n", "u", "UID FETCH", nil, 0, "skip"},
		{"no tag", "\r\n", "*", "", nil, 0, "BAD"},
		{"no command", "a\r\n", "a", "", nil, 0, "BAD"},
		{"bad escape", `x SELECT "a\b"` + "\r\n", "x", "SELECT", nil, 0, "BAD"},
		{"unterminated quote", `x SELECT "ab` + "\r\n", "x", "SELECT", nil, 0, "BAD"},
		{"NUL in literal", "x LOGIN {2}\r\na\x00 pw\r\n", "x", "LOGIN", nil, 1, "BAD"},
		{"literal8 as string", "x LOGIN ~{2}\r\nab pw\r\n", "x", "LOGIN", nil, 0, "BAD"},
		{"LITERAL- too big", "x LOGIN {5000-}\r\n" + strings.Repeat("a", 5000) + " pw\r\n", "x", "LOGIN", nil, 0, "BAD"},
		{"literal over MaxLiteral", "x LOGIN {70000}\r\n", "x", "LOGIN", nil, 0, "BAD"},
		{"literal in mid line", "x LOGIN {2} pw\r\n", "x", "LOGIN", nil, 0, "BAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, conts := newTestReader(tt.in, Limits{})
			tag, cmd, err := r.Begin()
			if tag != tt.tag || cmd != tt.cmd {
				t.Fatalf("Begin = %q %q %v, want %q %q", tag, cmd, err, tt.tag, tt.cmd)
			}
			if tt.errStatus == "skip" {
				return
			}
			var args []string
			if err == nil {
				args, err = parseArgs(r)
			}
			var perr *Error
			switch {
			case tt.errStatus == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.errStatus != "" && (!errors.As(err, &perr) || perr.Status != tt.errStatus):
				t.Fatalf("error %v, want %s", err, tt.errStatus)
			case tt.errStatus == "" && !reflect.DeepEqual(args, tt.args):
				t.Fatalf("args %q, want %q", args, tt.args)
			}
			if *conts != tt.conts {
				t.Errorf("%d continuations, want %d", *conts, tt.conts)
			}
		})
	}
}

// After a refused command, Discard skips exactly what the client sends
// without waiting, and the next command is read in step.
func TestReaderDiscard(t *testing.T) {
	tests := []struct {
		name string
		in   string // a refused command, then "n NOOP"
	}{
		{"plain line", "a APPEND INBOX (\\Seen) \"30-Feb-2020 00:00:00 +0000\" x\r\n"},
		{"LITERAL+ not read", "a APPEND INBOX \"30-Feb-2020 00:00:00 +0000\" {15+}\r\nb DELETE Junk\r\n\r\n"},
		{"LITERAL- not read", "a APPEND INBOX {15-}\r\nb DELETE Junk\r\n\r\n"},
		{"literal8 not read", "a APPEND INBOX ~{15+}\r\nb DELETE Junk\r\n\r\n"},
		{"two LITERAL+", "a LOGIN {3+}\r\nb x {13+}\r\nc DELETE Junk\r\n"},
		{"sync literal: client waits", "a APPEND INBOX {17}\r\n"},
		{"literal marker after a parse error", "a BOGUS ((( {15+}\r\nb DELETE Junk\r\n\r\n"},
		{"over-long line with LITERAL+", "a SEARCH TEXT " + strings.Repeat("y", 70000) + " {15+}\r\nb DELETE Junk\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, conts := newTestReader(tt.in+"n NOOP\r\n", Limits{})
			tag, _, err := r.Begin()
			if tag != "a" {
				t.Fatalf("tag %q (%v)", tag, err)
			}
			// The handler refuses the command somewhere in its arguments.
			if err == nil {
				r.SP()
				r.AString()
			}
			if err := r.Discard(); err != nil {
				t.Fatalf("Discard: %v", err)
			}
			tag, cmd, err := r.Begin()
			if tag != "n" || cmd != "NOOP" || err != nil {
				t.Fatalf("next command: %q %q %v", tag, cmd, err)
			}
			if *conts != 0 {
				t.Errorf("%d continuations sent for a refused command", *conts)
			}
		})
	}
}

// A refused command whose non-synchronising literals are too big to drop
// is fatal: the connection must close rather than read them as commands.
func TestReaderDiscardTooMuch(t *testing.T) {
	r, _ := newTestReader("a APPEND INBOX {99999999+}\r\nb DELETE Junk\r\n", Limits{MaxDiscard: 1000})
	r.Begin()
	if err := r.Discard(); !errors.Is(err, ErrFatal) {
		t.Fatalf("Discard = %v, want ErrFatal", err)
	}
	if _, _, err := r.Begin(); err == nil {
		t.Fatal("reader usable after a fatal error")
	}
}

func TestReaderLineTooLong(t *testing.T) {
	r, _ := newTestReader("a SEARCH "+strings.Repeat("x", 200)+" b CREATE y\r\nn NOOP\r\n", Limits{MaxLine: 100})
	tag, _, err := r.Begin()
	var perr *Error
	if tag != "a" || !errors.As(err, &perr) || perr.Status != "BAD" {
		t.Fatalf("long line: %q %v", tag, err)
	}
	if err := r.Discard(); err != nil {
		t.Fatal(err)
	}
	if tag, cmd, err := r.Begin(); tag != "n" || cmd != "NOOP" || err != nil {
		t.Fatalf("after long line: %q %q %v", tag, cmd, err)
	}
	// Without a line end within 16 times MaxLine: fatal.
	r, _ = newTestReader(strings.Repeat("x", 5000), Limits{MaxLine: 100, MaxDiscard: 1000})
	if _, _, err := r.Begin(); !errors.Is(err, ErrFatal) {
		t.Fatalf("endless line: %v", err)
	}
}

// APPEND's literal: seen before it is read, opened (with "+" only then)
// and streamed.
func TestReaderOpenLiteral(t *testing.T) {
	for _, sync := range []bool{true, false} {
		mark := "{5}"
		if !sync {
			mark = "{5+}"
		}
		r, conts := newTestReader("a APPEND INBOX "+mark+"\r\nhello\r\nn NOOP\r\n", Limits{})
		r.Begin()
		r.SP()
		r.Mailbox(false)
		r.SP()
		l, err := r.LiteralAhead(true)
		if err != nil || l.Size != 5 || l.Sync != sync {
			t.Fatalf("LiteralAhead = %+v %v", l, err)
		}
		if *conts != 0 {
			t.Fatal("continuation before the literal was accepted")
		}
		lr, err := r.OpenLiteral()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(lr)
		if string(b) != "hello" {
			t.Fatalf("literal %q", b)
		}
		if err := r.EndLiteral(); err != nil {
			t.Fatal(err)
		}
		if err := r.End(); err != nil {
			t.Fatal(err)
		}
		want := 0
		if sync {
			want = 1
		}
		if *conts != want {
			t.Errorf("sync=%v: %d continuations", sync, *conts)
		}
		if tag, _, _ := r.Begin(); tag != "n" {
			t.Fatalf("next tag %q", tag)
		}
	}
	// An opened literal left half read is drained by Discard.
	r, _ := newTestReader("a APPEND INBOX {10+}\r\nb DELETE x\r\nn NOOP\r\n", Limits{})
	r.Begin()
	r.SP()
	r.Mailbox(false)
	r.SP()
	r.LiteralAhead(true)
	lr, _ := r.OpenLiteral()
	lr.Read(make([]byte, 3))
	if err := r.Discard(); err != nil {
		t.Fatal(err)
	}
	if tag, _, _ := r.Begin(); tag != "n" {
		t.Fatalf("after a half-read literal: tag %q", tag)
	}
}

func TestSeqSet(t *testing.T) {
	tests := []struct {
		in   string
		want string
		bad  bool
	}{
		{"1", "1", false}, {"1:*", "1:*", false}, {"*:3,5,7:9", "*:3,5,7:9", false}, {"$", "$", false},
		{"0", "", true}, {"1:0", "", true}, {"a", "", true}, {"4294967296", "", true},
	}
	for _, tt := range tests {
		r, _ := newTestReader("a FETCH "+tt.in+"\r\n", Limits{})
		r.Begin()
		r.SP()
		set, err := r.SeqSet()
		if tt.bad != (err != nil) || (!tt.bad && set.String() != tt.want) {
			t.Errorf("%q: %v %v", tt.in, set, err)
		}
	}
	if got := FormatNumSet([]uint32{1, 2, 3, 5, 7, 8}); got != "1:3,5,7:8" {
		t.Errorf("FormatNumSet = %q", got)
	}
}

func TestDates(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{`"1-Feb-2020"`, time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC), false},
		{`29-feb-2020`, time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{`30-Feb-2020`, time.Time{}, true},
		{`1-Foo-2020`, time.Time{}, true},
		{`1-Feb-20`, time.Time{}, true},
	}
	for _, tt := range tests {
		r, _ := newTestReader("a SEARCH "+tt.in+"\r\n", Limits{})
		r.Begin()
		r.SP()
		d, err := r.Date()
		if tt.bad != (err != nil) || !d.Equal(tt.want) {
			t.Errorf("Date(%s) = %v %v", tt.in, d, err)
		}
	}
	dt := []struct {
		in string
		ok bool
	}{
		{"17-Jul-1996 02:44:25 -0700", true},
		{" 1-Jan-1970 00:00:00 +0000", true},
		{"31-Dec-9999 23:59:59 +1400", true},
		{"01-Jan-0001 00:00:00 +0000", true},
		{"30-Feb-2020 00:00:00 +0000", false},
		{"17-Jul-1996 24:44:25 -0700", false},
		{"17-Jul-1996 02:44:25 0700", false},
	}
	for _, tt := range dt {
		got, ok := ParseDateTime(tt.in)
		if ok != tt.ok {
			t.Errorf("ParseDateTime(%q) = %v, %v", tt.in, got, ok)
		}
		if ok && FormatDateTime(got) != strings.Replace(tt.in, " 1-", "01-", 1) {
			t.Errorf("round trip %q → %q", tt.in, FormatDateTime(got))
		}
	}
}

func TestFetchAtts(t *testing.T) {
	tests := []struct {
		in   string
		want string // names and sections, space separated
		bad  bool
	}{
		{"FAST", "FLAGS INTERNALDATE RFC822.SIZE", false},
		{"(UID BODY.PEEK[HEADER.FIELDS (Subject From)]<0.100>)", "UID BODY[HEADER.FIELDS (SUBJECT FROM)]peek<0.100>", false},
		{"BODY[1.2.MIME]", "BODY[1.2.MIME]", false},
		{"(BINARY.PEEK[1] BINARY.SIZE[2])", "BINARY[1]peek BINARY.SIZE[2]", false},
		{"BODY", "BODY", false},
		{"BODY[]", "BODY[]", false},
		{"BINARY[TEXT]", "", true},
		{"BODY[MIME]", "", true},
		{"BODY[1.2", "", true},
		{"FOO", "", true},
		{"()", "", true},
	}
	for _, tt := range tests {
		r, _ := newTestReader("a FETCH 1 "+tt.in+"\r\n", Limits{})
		r.Begin()
		r.SP()
		r.SeqSet()
		r.SP()
		atts, err := r.FetchAtts()
		if err == nil {
			err = r.End()
		}
		if tt.bad != (err != nil) {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		var parts []string
		for _, a := range atts {
			s := a.Name
			if a.Section != nil {
				s += "[" + a.Section.String() + "]"
			}
			if a.Peek {
				s += "peek"
			}
			if a.Partial != nil {
				s += "<" + itoa(a.Partial.Offset) + "." + itoa(a.Partial.Count) + ">"
			}
			parts = append(parts, s)
		}
		if got := strings.Join(parts, " "); !tt.bad && got != tt.want {
			t.Errorf("%s: %q, want %q", tt.in, got, tt.want)
		}
	}
}

func itoa(n uint32) string { return FormatNumSet([]uint32{n}) }

func TestSearchKeys(t *testing.T) {
	tests := []struct {
		in   string
		want string
		bad  bool
	}{
		{"ALL", "ALL", false},
		{"OR (FROM a) NOT BODY b 1:*,2 UID 3:* SINCE 1-Jan-2020 $", "OR(AND(FROM:a) NOT(BODY:b)) SEQ UID SINCE SEQ", false},
		{"HEADER X-Foo bar LARGER 10 KEYWORD $Junk", "HEADER:X-Foo LARGER KEYWORD:$Junk", false},
		{"SINCE 30-Feb-2020", "", true},
		{"NOT", "", true},
		{"FROBNICATE", "", true},
		{strings.Repeat("(", 100) + "ALL" + strings.Repeat(")", 100), "", true},
	}
	for _, tt := range tests {
		r, _ := newTestReader("a SEARCH "+tt.in+"\r\n", Limits{})
		r.Begin()
		r.SP()
		keys, err := r.SearchKeys()
		if tt.bad != (err != nil) {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got := keyString(keys); !tt.bad && got != tt.want {
			t.Errorf("%s: %q, want %q", tt.in, got, tt.want)
		}
	}
}

func keyString(keys []SearchKey) string {
	var parts []string
	for _, k := range keys {
		s := k.Key
		if k.Str != "" {
			s += ":" + k.Str
		}
		if len(k.Sub) > 0 {
			s += "(" + keyString(k.Sub) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestUTF7(t *testing.T) {
	tests := []struct{ dec, enc string }{
		{"INBOX", "INBOX"}, {"a&b", "a&-b"}, {"Entwürfe", "Entw&APw-rfe"}, {"日本語", "&ZeVnLIqe-"}, {"~peter/mail/台北", "~peter/mail/&U,BTFw-"},
	}
	for _, tt := range tests {
		if got := EncodeUTF7(tt.dec); got != tt.enc {
			t.Errorf("EncodeUTF7(%q) = %q, want %q", tt.dec, got, tt.enc)
		}
		if got, err := DecodeUTF7(tt.enc); got != tt.dec || err != nil {
			t.Errorf("DecodeUTF7(%q) = %q %v", tt.enc, got, err)
		}
	}
	for _, bad := range []string{"&Jjo", "&AGE-", "a\x80", "&2Dw-"} {
		if _, err := DecodeUTF7(bad); err == nil {
			t.Errorf("DecodeUTF7(%q) accepted", bad)
		}
	}
}

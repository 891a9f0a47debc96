package managesieve

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzReadCommand: the command reader never panics, never returns more
// than maxArgs arguments, and literals respect the limit.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"CAPABILITY\r\n",
		"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
		"PUTSCRIPT \"a\" {5}\r\nkeep;\r\n",
		"AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n",
		"X \"a\\\"b\\\\\"\r\n",
		"X {99999999999999999999+}\r\n",
		"X \"unterminated\r\n",
		"X {3+}\r\nab",
	} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, in string, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		br := bufio.NewReader(strings.NewReader(in))
		for i := 0; i < 8; i++ {
			args, err := readCommand(br, limit)
			if err != nil {
				return
			}
			if len(args) > maxArgs+1 {
				t.Fatalf("%d args", len(args))
			}
			for _, a := range args {
				if len(a.s) > max(limit, maxLine) {
					t.Fatalf("argument of %d bytes", len(a.s))
				}
			}
		}
	})
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:        `"plain"`,
		`a "b" \c`:     `"a \"b\" \\c"`,
		"two\r\nlines": "{10}\r\ntwo\r\nlines",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %q, want %q", in, got, want)
		}
		if !strings.HasPrefix(want, "{") {
			got, rest, err := quoted(want)
			if err != nil || got != in || rest != "" {
				t.Errorf("quoted(%q) = %q, %q, %v", want, got, rest, err)
			}
		}
	}
}

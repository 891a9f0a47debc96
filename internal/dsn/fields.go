package dsn

import (
	"strings"
	"time"
	"unicode/utf8"
)

// dateFormat is the RFC 5322 3.3 date-time used in Date and the DSN
// date fields (RFC 3464 2.1.1 via RFC 822 date-time).
const dateFormat = "Mon, 02 Jan 2006 15:04:05 -0700"

func date(t time.Time) string { return t.Format(dateFormat) }

// clean makes a value safe for one header field: no CR, LF or other
// control characters, valid UTF-8, and, unless utf8ok, ASCII only.
func clean(s string, utf8ok bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\r' || r == '\n':
			r = ' '
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			r = '?'
		case r >= 0x80 && !utf8ok:
			r = '?'
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// maxWord is the longest run of octets we put on one line without a
// space; longer words are split, so that no line passes the 998-octet
// limit of RFC 5322 2.1.1 whatever a remote server says.
const maxWord = 900

// field writes "Name: value" folded at spaces so that lines stay under 78
// characters where possible (RFC 5322 2.2.3).
func field(b *strings.Builder, name, value string) {
	line := name + ":"
	col := len(line)
	b.WriteString(line)
	for i, w := range words(value) {
		if i > 0 && col+1+len(w) > 76 {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteByte(' ')
		b.WriteString(w)
		col += 1 + len(w)
	}
	b.WriteString("\r\n")
}

// words splits s at white space, and words longer than maxWord octets
// at rune boundaries.
func words(s string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		for len(w) > maxWord {
			cut := maxWord
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			out = append(out, w[:cut])
			w = w[cut:]
		}
		out = append(out, w)
	}
	return out
}

// truncate shortens s to at most n octets at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// wrap breaks text into lines of at most width characters at spaces,
// for the human-readable part (long words are split, see words).
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, w := range words(s) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// addrType returns the DSN address type for an address: "rfc822", or
// "utf-8" for internationalised addresses (RFC 6533 3).
func addrType(addr string) string {
	if isASCII(addr) {
		return "rfc822"
	}
	return "utf-8"
}

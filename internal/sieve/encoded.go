package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeEncoded replaces ${hex:...} and ${unicode:...} in every string
// argument of n (RFC 5228 2.4.2.4).
func decodeEncoded(n *Node) error {
	for i := range n.Args {
		for j, s := range n.Args[i].Strs {
			d, err := decodeEncodedString(s)
			if err != nil {
				return errf(n.Line, "%v", err)
			}
			n.Args[i].Strs[j] = d
		}
	}
	return nil
}

func decodeEncodedString(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		end := strings.IndexByte(rest, '}')
		kind, body, ok := strings.Cut(rest[:max(end, 0)], ":")
		kind = strings.ToLower(kind)
		if end < 0 || !ok || kind != "hex" && kind != "unicode" {
			b.WriteString("${")
			s = rest
			continue
		}
		out, valid := decodeUnits(kind, body)
		if !valid {
			if kind == "unicode" && out == "bad" {
				return "", errf(0, "invalid unicode character in %q", s[i:i+3+end])
			}
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(out)
		s = rest[end+1:]
	}
}

func decodeUnits(kind, body string) (string, bool) {
	var b strings.Builder
	for _, f := range strings.Fields(body) {
		v, err := strconv.ParseUint(f, 16, 32)
		if err != nil || kind == "hex" && len(f) > 2 && strings.TrimLeft(f, "0") != "" && v > 0xff {
			return "", false
		}
		if kind == "hex" {
			b.WriteByte(byte(v))
			continue
		}
		r := rune(v)
		if !utf8.ValidRune(r) {
			return "bad", false // RFC 5228 2.4.2.4: an error
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

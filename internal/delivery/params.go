package delivery

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// xtext encodes s per RFC 3461 4: "+", "=" and octets outside 33..126
// become "+HH".
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// utf8AddrXtext encodes an address for ORCPT=utf-8;... (RFC 6533 3):
// QCHARs as they are, everything else as \x{HEX}; with unitext (the
// session uses SMTPUTF8) non-ASCII characters stay UTF-8.
func utf8AddrXtext(s string, unitext bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x21 && r <= 0x7e && r != '+' && r != '=' && r != '\\':
			b.WriteRune(r)
		case r >= 0x80 && r != utf8.RuneError && unitext:
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, `\x{%X}`, r)
		}
	}
	return b.String()
}

// notifyParam normalises a DSN NOTIFY value (RFC 3461 4.1): "NEVER", or
// a comma list of SUCCESS, FAILURE and DELAY. It returns "" for anything
// else, which is then not sent.
func notifyParam(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(strings.ToUpper(strings.TrimSpace(s)), ",")
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		switch p {
		case "NEVER":
			if len(parts) != 1 {
				return ""
			}
		case "SUCCESS", "FAILURE", "DELAY":
		default:
			return ""
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// orcptParam encodes ORCPT (RFC 3461 4.2) from its decoded form
// "addr-type;address"; "" when absent or malformed.
func orcptParam(s string, smtputf8 bool) string {
	typ, addr, ok := strings.Cut(s, ";")
	typ = strings.TrimSpace(typ)
	addr = strings.TrimSpace(addr)
	if !ok || typ == "" || addr == "" || !isAtom(typ) || !utf8.ValidString(addr) {
		return ""
	}
	if strings.EqualFold(typ, "utf-8") {
		return "utf-8;" + utf8AddrXtext(addr, smtputf8)
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] >= 0x80 {
			// RFC 6533: a non-ASCII original recipient is of type utf-8.
			return "utf-8;" + utf8AddrXtext(addr, smtputf8)
		}
	}
	return typ + ";" + xtext(addr)
}

// retParam normalises RET (RFC 3461 4.3).
func retParam(s string) string {
	switch u := strings.ToUpper(strings.TrimSpace(s)); u {
	case "FULL", "HDRS":
		return u
	}
	return ""
}

// envidParam encodes ENVID (RFC 3461 4.4): at most 100 characters of
// printable ASCII before encoding; anything else is not sent.
func envidParam(s string) string {
	if s == "" || len(s) > 100 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ""
		}
	}
	return xtext(s)
}

func isAtom(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

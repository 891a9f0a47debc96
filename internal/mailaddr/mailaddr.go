// Package mailaddr parses and normalises mail addresses: the syntax of RFC
// 5321 paths (dot-atom or quoted local part, domain or address literal), IDNA
// for domains, case-insensitive local parts and plus-addressing for lookups.
package mailaddr

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// RFC 5321 4.5.3.1 size limits.
const (
	MaxLocalLen  = 64
	MaxDomainLen = 255
	MaxPathLen   = 256
)

// Errors returned by Parse.
var (
	ErrEmpty       = errors.New("empty address")
	ErrSyntax      = errors.New("address syntax error")
	ErrTooLong     = errors.New("address too long")
	ErrSourceRoute = errors.New("source routes are not accepted")
	ErrUTF8        = errors.New("non-ASCII address needs SMTPUTF8")
)

// Address is a parsed mailbox address. Local is the unquoted local part as
// written (case preserved); Domain is lower-case ASCII (A-labels), or an
// address literal in brackets.
type Address struct {
	Local  string
	Domain string
}

// String renders the address, quoting the local part when it is not a dot-atom.
func (a Address) String() string {
	if a.Local == "" && a.Domain == "" {
		return ""
	}
	local := a.Local
	if !isDotAtom(local) {
		local = quote(local)
	}
	return local + "@" + a.Domain
}

// Key is the lookup form: lower-case local part @ domain. Two addresses that
// reach the same mailbox of ours have the same Key (ignoring plus-tags).
func (a Address) Key() string {
	return strings.ToLower(a.Local) + "@" + a.Domain
}

// Base returns the address without its plus-tag ("user+tag" → "user").
func (a Address) Base() Address {
	if i := strings.IndexByte(a.Local, '+'); i > 0 {
		return Address{Local: a.Local[:i], Domain: a.Domain}
	}
	return a
}

// Tag returns the plus-tag ("user+tag" → "tag"), or "".
func (a Address) Tag() string {
	if i := strings.IndexByte(a.Local, '+'); i > 0 {
		return a.Local[i+1:]
	}
	return ""
}

// IsLiteral reports whether the domain is an address literal ("[127.0.0.1]").
func (a Address) IsLiteral() bool { return strings.HasPrefix(a.Domain, "[") }

// HasRelayTrick reports whether the local part contains characters that
// other MTAs interpret as routing ("%", "!", "@" inside quotes). Such
// addresses are never accepted for our domains.
func (a Address) HasRelayTrick() bool {
	return strings.ContainsAny(a.Local, "%!@")
}

// IsASCII reports whether the address needs no SMTPUTF8.
func (a Address) IsASCII() bool { return isASCII(a.Local) && isASCII(a.Domain) }

// Parse parses an address as it appears in an SMTP path, without the angle
// brackets: local-part "@" domain. It accepts UTF-8 local parts and
// internationalised domains (converted to A-labels); callers that did not
// negotiate SMTPUTF8 should check IsASCII. Source routes are refused.
func Parse(s string) (Address, error) {
	if s == "" {
		return Address{}, ErrEmpty
	}
	if len(s) > MaxPathLen {
		return Address{}, ErrTooLong
	}
	if s[0] == '@' {
		return Address{}, ErrSourceRoute
	}
	if !utf8.ValidString(s) {
		return Address{}, fmt.Errorf("%w: invalid UTF-8", ErrSyntax)
	}
	local, rest, err := parseLocal(s)
	if err != nil {
		return Address{}, err
	}
	if !strings.HasPrefix(rest, "@") {
		return Address{}, fmt.Errorf("%w: missing @domain", ErrSyntax)
	}
	domain, err := ParseDomain(rest[1:])
	if err != nil {
		return Address{}, err
	}
	if len(local) > MaxLocalLen {
		return Address{}, ErrTooLong
	}
	return Address{Local: local, Domain: domain}, nil
}

// MustParse is Parse for tests and constants; it panics on error.
func MustParse(s string) Address {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

func parseLocal(s string) (local, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 >= len(s) {
					return "", "", fmt.Errorf("%w: dangling backslash", ErrSyntax)
				}
				i++
				// RFC 5321 quoted-pairSMTP: %d92 %d32-126 (UTF-8 with SMTPUTF8).
				if s[i] < 0x20 || s[i] == 0x7f {
					return "", "", fmt.Errorf("%w: control character", ErrSyntax)
				}
				b.WriteByte(s[i])
			case c == '"':
				if b.Len() == 0 {
					return "", "", fmt.Errorf("%w: empty local part", ErrSyntax)
				}
				return b.String(), s[i+1:], nil
			case c < 0x20 || c == 0x7f:
				return "", "", fmt.Errorf("%w: control character", ErrSyntax)
			case c >= 0x80:
				r, size := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsPrint(r) {
					return "", "", fmt.Errorf("%w: non-printing character %U", ErrSyntax, r)
				}
				b.WriteString(s[i : i+size])
				i += size - 1
			default:
				b.WriteByte(c)
			}
		}
		return "", "", fmt.Errorf("%w: unterminated quoted string", ErrSyntax)
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return "", "", fmt.Errorf("%w: missing local part or @", ErrSyntax)
	}
	local = s[:at]
	if !isDotAtom(local) {
		return "", "", fmt.Errorf("%w: invalid local part %q", ErrSyntax, local)
	}
	return local, s[at:], nil
}

// ParseDomain normalises a domain: IDNA to lower-case A-labels, no trailing
// dot, each label valid; or an address literal "[1.2.3.4]" / "[IPv6:...]".
func ParseDomain(d string) (string, error) {
	if d == "" {
		return "", fmt.Errorf("%w: empty domain", ErrSyntax)
	}
	if strings.HasPrefix(d, "[") {
		if !strings.HasSuffix(d, "]") || len(d) < 3 || strings.ContainsAny(d[1:len(d)-1], "[]\\ ") {
			return "", fmt.Errorf("%w: bad address literal", ErrSyntax)
		}
		return strings.ToLower(d), nil
	}
	d = strings.TrimSuffix(d, ".")
	if len(d) > MaxDomainLen {
		return "", ErrTooLong
	}
	if !isASCII(d) {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		d = a
	}
	d = strings.ToLower(d)
	if len(d) > MaxDomainLen {
		return "", ErrTooLong
	}
	for _, label := range strings.Split(d, ".") {
		if !validLabel(label) {
			return "", fmt.Errorf("%w: invalid domain %q", ErrSyntax, d)
		}
	}
	return d, nil
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// atext per RFC 5322 3.2.3, plus non-ASCII UTF-8 (RFC 6531) that prints:
// not C1 controls, format characters such as U+202E (which reorder what a
// reader sees in a header) or line and paragraph separators.
func isAtext(c rune) bool {
	if c >= 0x80 {
		return unicode.IsPrint(c)
	}
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", c)
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if c != '.' && !isAtext(c) {
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

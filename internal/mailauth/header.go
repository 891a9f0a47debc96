package mailauth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/mailhdr"
)

// DefaultMaxHeaderBytes bounds the header section that Sign and Verify hold
// in memory. The body is streamed and never buffered.
const DefaultMaxHeaderBytes = 1 << 20

// ErrHeaderTooLong is returned when a message header section is larger than
// the configured limit.
var ErrHeaderTooLong = errors.New("mailauth: message header too long")

// readHeader reads the header section of a message from br, up to and
// including the empty line that ends it (or up to EOF when the message has
// no body), with the rules of mailhdr.Read (lines may end in CRLF or LF). It
// reads at most max bytes; the body stays in br.
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	h, err := mailhdr.Read(br, max)
	switch {
	case errors.Is(err, mailhdr.ErrTooLarge):
		return nil, ErrHeaderTooLong
	case err != nil:
		return nil, fmt.Errorf("mailauth: read header: %w", err)
	}
	return h, nil
}

// field is one header field as it appeared on the wire.
type field struct {
	Name string // the field name, as written; "" for a line without a colon
	Raw  []byte // the whole field with continuation lines and line endings
}

// Value returns the unfolded field body (RFC 5322 2.2.3), trimmed.
func (f field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte(":"))
	v = bytes.ReplaceAll(v, []byte("\r"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// splitFields splits a header section (as returned by readHeader) into
// fields. RFC 5322 2.2: a line starting with WSP continues the previous field.
func splitFields(header []byte) []field {
	var fields []field
	for len(header) > 0 {
		end := bytes.IndexByte(header, '\n')
		if end < 0 {
			end = len(header)
		} else {
			end++
		}
		line := header[:end]
		header = header[end:]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line that ends the header
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.Raw = append(last.Raw, line...)
			continue
		}
		name := ""
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name = strings.TrimSpace(string(line[:i]))
		}
		fields = append(fields, field{Name: name, Raw: append([]byte(nil), line...)})
	}
	return fields
}

// fieldsNamed returns the fields whose name equals name, case-insensitively.
func fieldsNamed(fields []field, name string) []field {
	var out []field
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	return out
}

// Errors about the RFC5322.From field (RFC 7489 6.6.1).
var (
	errNoFrom      = errors.New("message has no From field")
	errSeveralFrom = errors.New("message has several From fields")
	errBadFrom     = errors.New("From field has no usable address")
)

// authorDomains returns the distinct domains of the RFC5322.From addresses,
// lower-case A-labels. RFC 7489 6.6.1: a message with zero or several From
// fields, or a From without a parsable domain, is an error.
func authorDomains(fields []field) ([]string, error) {
	from := fieldsNamed(fields, "From")
	switch {
	case len(from) == 0:
		return nil, errNoFrom
	case len(from) > 1:
		return nil, errSeveralFrom
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		// Display names do not matter here: accept every charset as is.
		CharsetReader: func(_ string, in io.Reader) (io.Reader, error) { return in, nil },
	}}
	addrs, err := p.ParseList(from[0].Value())
	if err != nil || len(addrs) == 0 {
		return nil, errBadFrom
	}
	var domains []string
	for _, a := range addrs {
		at := strings.LastIndexByte(a.Address, '@')
		if at < 0 {
			return nil, errBadFrom
		}
		d, err := mailaddr.ParseDomain(a.Address[at+1:])
		if err != nil || strings.HasPrefix(d, "[") {
			return nil, errBadFrom
		}
		seen := false
		for _, x := range domains {
			seen = seen || x == d
		}
		if !seen {
			domains = append(domains, d)
		}
	}
	return domains, nil
}

// authservID returns the authserv-id of an Authentication-Results field
// body (RFC 8601 2.2: [CFWS] authserv-id [CFWS authres-version] ";" ...),
// or "" when there is none. The authserv-id is a value: a token or a quoted
// string.
func authservID(v string) string {
	v = skipCFWS(v)
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(c)
			}
		}
		return "" // unterminated
	}
	end := strings.IndexAny(v, " \t\r\n;()\"")
	if end < 0 {
		end = len(v)
	}
	return v[:end]
}

// skipCFWS skips white space and (nested) comments at the start of s.
func skipCFWS(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return s[i:]
		}
	}
	return ""
}

// StripForged removes from a header section every Authentication-Results
// field whose authserv-id ours reports as ours: such a field claims to be
// a verdict of our ADMD, so a sender must not be able to supply it (RFC
// 8601 5). ours is called only for Authentication-Results fields, with the
// authserv-id as written (see OursID). It returns the new header and the
// number of fields removed; the header is returned unchanged when there is
// nothing to remove.
func StripForged(header []byte, ours func(authservID string) bool) ([]byte, int) {
	if ours == nil {
		return header, 0
	}
	fields := splitFields(header)
	var out []byte
	n := 0
	for _, f := range fields {
		if isAuthResults(f) && ours(authservID(f.Value())) {
			n++
			continue
		}
		out = append(out, f.Raw...)
	}
	if n == 0 {
		return header, 0
	}
	// Keep whatever followed the fields (the empty line that ends the
	// header), byte for byte.
	total := 0
	for _, f := range fields {
		total += len(f.Raw)
	}
	return append(out, header[total:]...), n
}

// OursID reports whether an authserv-id names our ADMD: the host name, one
// of our domains, or a name under one of them (RFC 8601 5: a field that
// claims to come from inside our trust boundary and did not is removed).
// Case and a final dot are ignored; an empty id is not ours.
func OursID(id, hostname string, domains []string) bool {
	id = strings.ToLower(strings.TrimSuffix(id, "."))
	if id == "" {
		return false
	}
	for _, d := range append([]string{hostname}, domains...) {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if d != "" && (id == d || strings.HasSuffix(id, "."+d)) {
			return true
		}
	}
	return false
}

func isAuthResults(f field) bool {
	return strings.EqualFold(f.Name, "Authentication-Results")
}

func isForged(f field, id string) bool {
	return isAuthResults(f) && OursID(authservID(f.Value()), id, nil)
}

// tagValue returns the value of tag in a tag-list (RFC 6376 3.2) with all
// white space removed, or "".
func tagValue(list, tag string) string {
	for _, spec := range strings.Split(list, ";") {
		k, v, ok := strings.Cut(spec, "=")
		if ok && strings.TrimSpace(k) == tag {
			return strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
		}
	}
	return ""
}

// resolverAddr matches the " on 10.0.0.53:53" that Go's resolver puts in
// its errors; it names our DNS server and does not belong in a header.
var resolverAddr = regexp.MustCompile(` on [0-9A-Fa-f.:\[\]]+:[0-9]+`)

// sanitize makes a string taken from the network safe for a header field
// parameter or a log line: control characters, quotes, backslashes and
// non-printing characters (format characters such as U+202E, which reorder
// what a reader sees) are replaced and the length is capped.
func sanitize(s string) string {
	const max = 200
	s = resolverAddr.ReplaceAllString(s, "")
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == 0xfffd || r >= 0x80 && !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

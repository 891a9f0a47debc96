// Package mailhdr reads the header section of a message (RFC 5322 2.1,
// 2.2), with one rule for line endings and oversized lines, for every
// reader on the intake path: the SMTP server's checks and the
// authentication checks and signer of mailauth.
package mailhdr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors of Read and Parse.
var (
	// ErrTooLarge: the header section is longer than the caller's bound.
	ErrTooLarge = errors.New("mailhdr: header section too large")
	// ErrSyntax: a line of the header section is neither a header field
	// nor the continuation of one.
	ErrSyntax = errors.New("mailhdr: invalid header field")
)

// Read reads the header section from br: every line up to and including
// the empty line that ends it, or the whole input when there is none (a
// message without a body). The body stays in br.
//
// The rules, for everyone: a line ends at LF, with or without a CR before
// it (SMTP intake refuses bare line endings on the stream before they get
// here; stored and signed mail may have either). A line longer than br's
// buffer is read in pieces; a piece that starts inside a line is never
// taken for the empty line. Past max bytes, Read fails with ErrTooLarge
// before it buffers more.
func Read(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > max {
			return nil, ErrTooLarge
		}
		buf = append(buf, chunk...)
		if lineStart && err == nil && (len(chunk) == 1 || len(chunk) == 2 && chunk[0] == '\r') {
			return buf, nil
		}
		switch {
		case err == nil:
			lineStart = true
		case errors.Is(err, bufio.ErrBufferFull):
			lineStart = false
		case errors.Is(err, io.EOF):
			return buf, nil
		default:
			return nil, err
		}
	}
}

// Field is one header field as it appeared on the wire.
type Field struct {
	Name string // as written
	Raw  []byte // the whole field: name, continuation lines, line endings
}

// Value returns the unfolded field body (RFC 5322 2.2.3: unfolding
// removes the CRLFs), trimmed.
func (f Field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte(":"))
	v = bytes.ReplaceAll(v, []byte("\r"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// Parse splits a header section (as Read returns it) into fields, up to
// the empty line. RFC 5322 2.2: a field is a name of printable US-ASCII
// characters other than the colon, immediately followed by a colon; a
// line that starts with a space or a tab continues the field before it
// (2.2.3). Any other line (a space before the colon, no colon, a
// continuation of nothing) fails with ErrSyntax: the obsolete syntax of
// RFC 5322 4.5 is not accepted, so that every reader of a message sees
// the same fields.
func Parse(hdr []byte) ([]Field, error) {
	var out []Field
	for n := 1; len(hdr) > 0; n++ {
		end := bytes.IndexByte(hdr, '\n') + 1
		if end == 0 {
			end = len(hdr)
		}
		line := hdr[:end]
		hdr = hdr[end:]
		text := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(text) == 0 {
			break // the empty line that ends the header section
		}
		if text[0] == ' ' || text[0] == '\t' {
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d continues no field: %w", n, ErrSyntax)
			}
			last := &out[len(out)-1]
			last.Raw = append(last.Raw, line...)
			continue
		}
		colon := bytes.IndexByte(text, ':')
		if colon <= 0 || !validName(text[:colon]) {
			return nil, fmt.Errorf("line %d is not a header field: %w", n, ErrSyntax)
		}
		out = append(out, Field{Name: string(text[:colon]), Raw: append([]byte(nil), line...)})
	}
	return out, nil
}

// validName: printable US-ASCII except the colon (RFC 5322 2.2).
func validName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

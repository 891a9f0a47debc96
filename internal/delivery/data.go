package delivery

import (
	"bytes"
	"io"
)

// dataWriter turns a message body into the DATA stream of RFC 5321 4.5.2:
// every line ends in CRLF and every line that starts with "." gets a second
// one. A bare CR, a bare LF and a CRLF each end one line, so a body with
// "\n.\r\n", "\r.\r\n", "\n.\n" or a lone "." line reaches the peer as the
// same text with a doubled dot, never as an end of data (SMTP smuggling,
// CVE-2023-51764 class). Close ends the stream with ".\r\n".
type dataWriter struct {
	w         io.Writer
	lineStart bool // the next byte starts a line
	afterCR   bool // the last byte was a CR (already written as CRLF)
}

func newDataWriter(w io.Writer) *dataWriter { return &dataWriter{w: w, lineStart: true} }

var crlf = []byte("\r\n")

// Write writes p, normalised and dot-stuffed. It reports len(p) on success.
func (d *dataWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		c := p[0]
		switch {
		case c == '\n' && d.afterCR:
			// Second half of a CRLF whose CR we already wrote as CRLF.
			d.afterCR = false
			p = p[1:]
			continue
		case c == '\r' || c == '\n':
			if _, err := d.w.Write(crlf); err != nil {
				return 0, err
			}
			d.afterCR = c == '\r'
			d.lineStart = true
			p = p[1:]
			continue
		}
		d.afterCR = false
		if d.lineStart && c == '.' {
			// RFC 5321 4.5.2: a leading period is doubled.
			if _, err := d.w.Write([]byte{'.'}); err != nil {
				return 0, err
			}
		}
		d.lineStart = false
		// Copy up to the next line end in one write.
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			i = len(p)
		}
		if _, err := d.w.Write(p[:i]); err != nil {
			return 0, err
		}
		p = p[i:]
	}
	return n, nil
}

// Close terminates an unterminated last line and writes the end of data.
func (d *dataWriter) Close() error {
	if !d.lineStart {
		if _, err := d.w.Write(crlf); err != nil {
			return err
		}
	}
	_, err := d.w.Write([]byte(".\r\n"))
	return err
}

package pop3server

import (
	"bufio"
	"bytes"
	"errors"
)

// errTopDone stops the copy of a message once TOP has sent its lines.
var errTopDone = errors.New("pop3: TOP line limit reached")

// dotWriter writes message content as the body of a POP3 multi-line
// response (RFC 1939 3), streaming: every line ending (CRLF, bare LF or
// bare CR) is written as CRLF, a line beginning with "." gets another "."
// in front, and Close ends the response with ".". With bodyLines >= 0 it
// implements TOP (RFC 1939 7): the header, the blank line, then at most
// bodyLines lines of the body; Write returns errTopDone after that.
type dotWriter struct {
	w         *bufio.Writer
	bodyLines int // -1: no limit
	lineStart bool
	lineEmpty bool // nothing written on the current line yet
	pendingCR bool // a CR was seen; an LF right after belongs to it
	inHeader  bool
	done      bool
	err       error
}

func newDotWriter(w *bufio.Writer, bodyLines int) *dotWriter {
	return &dotWriter{w: w, bodyLines: bodyLines, lineStart: true, lineEmpty: true, inHeader: true}
}

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !d.done && d.err == nil {
		if d.pendingCR {
			d.pendingCR = false
			if p[0] == '\n' {
				p = p[1:]
			}
			d.endLine()
			continue
		}
		if d.lineStart {
			d.lineStart = false
			if p[0] == '.' { // RFC 1939 3: byte-stuffing
				d.put([]byte{'.'})
			}
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		j := bytes.IndexByte(seg, '\r')
		switch {
		case j < 0 && i < 0: // the line goes on in the next Write
			d.put(seg)
			p = nil
		case j < 0: // bare LF
			d.put(seg)
			d.endLine()
			p = p[i+1:]
		case j == len(seg)-1 && i >= 0: // CRLF
			d.put(seg[:j])
			d.endLine()
			p = p[i+1:]
		default: // a CR not followed by LF here: decide on the next byte
			d.put(seg[:j])
			d.pendingCR = true
			p = p[j+1:]
		}
	}
	if d.err != nil {
		return n - len(p), d.err
	}
	if d.done {
		return n, errTopDone
	}
	return n, nil
}

func (d *dotWriter) put(b []byte) {
	if len(b) == 0 || d.err != nil {
		return
	}
	d.lineEmpty = false
	_, d.err = d.w.Write(b)
}

func (d *dotWriter) endLine() {
	if d.err == nil {
		_, d.err = d.w.WriteString("\r\n")
	}
	if d.inHeader {
		if d.lineEmpty { // the blank line that ends the header
			d.inHeader = false
			d.done = d.bodyLines == 0
		}
	} else if d.bodyLines > 0 {
		d.bodyLines--
		d.done = d.bodyLines == 0
	}
	d.lineStart, d.lineEmpty = true, true
}

// Close ends the last line if the content did not, and writes the
// terminating ".".
func (d *dotWriter) Close() error {
	if !d.done {
		if d.pendingCR {
			d.pendingCR = false
			d.endLine()
		}
		if !d.lineStart {
			d.endLine()
		}
	}
	if d.err == nil {
		_, d.err = d.w.WriteString(".\r\n")
	}
	return d.err
}

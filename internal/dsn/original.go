package dsn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Default bounds on the original message returned in a report.
const (
	defaultMaxOriginal = 1 << 20
	defaultMaxHeader   = 256 << 10
)

// original is what part 3 of the report holds.
type original struct {
	data      []byte // CRLF line ends
	full      bool   // the whole message (message/rfc822); else the header (text/rfc822-headers)
	tooLarge  bool   // RET=FULL asked, but the message was over the limit
	headerCut bool   // the header itself was over its limit and was cut
	eightBit  bool   // data has octets >= 0x80
}

// readOriginal reads the original, bounded: the whole message when full
// is wanted and it fits in maxMsg bytes, otherwise its header (up to the
// first empty line), at most maxHeader bytes. Line ends become CRLF.
func readOriginal(r io.Reader, wantFull bool, maxMsg int64, maxHeader int) (original, error) {
	if r == nil {
		return original{}, nil
	}
	var o original
	limit := int64(maxHeader) + 1
	if wantFull {
		limit = max(maxMsg, int64(maxHeader)) + 1
	}
	buf, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return original{}, fmt.Errorf("dsn: read original: %w", err)
	}
	if wantFull && int64(len(buf)) <= maxMsg {
		o.data, o.full = crlf(buf), true
	} else {
		h, complete := header(buf, maxHeader, int64(len(buf)) == limit)
		o.data = crlf(h)
		o.tooLarge, o.headerCut = wantFull, !complete
	}
	for _, c := range o.data {
		if c >= 0x80 {
			o.eightBit = true
			break
		}
	}
	return o, nil
}

// header returns the header section of msg (including its last line end,
// without the empty line), at most max bytes cut at a line end, and
// whether it is complete. truncated says msg is only a prefix.
func header(msg []byte, max int, truncated bool) ([]byte, bool) {
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(make([]byte, 0, 4096), len(msg)+1)
	sc.Split(scanLinesKeepEnd)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return msg[:n], true
		}
		if n+len(line) > max {
			return msg[:n], false
		}
		n += len(line)
	}
	// No empty line: a header-only message, complete unless we did not
	// read all of it.
	return msg[:n], !truncated && sc.Err() == nil
}

// scanLinesKeepEnd splits after each LF, keeping it.
func scanLinesKeepEnd(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// crlf normalises line ends to CRLF (a bare CR or LF ends a line) and
// terminates the last line.
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// Package mbox reads and writes mbox files: messages each starting with a
// "From sender date" line (the From_ line). Quoting of body lines that
// begin with "From ":
//
//   - mboxrd (what we write, the default to read): every line matching
//     ^>*From  gets one more '>' when written and one less when read, so any
//     message round-trips exactly;
//   - mboxo: only ^From  lines are quoted, as ">From "; reading removes the
//     '>' from ^>From  lines only (an original ">From " cannot be told apart).
//
// Flags travel in the Status (R = \Seen), X-Status (A = \Answered,
// F = \Flagged, T = \Draft, D = \Deleted) and X-Keywords header fields, as
// mutt and Dovecot do. The Reader removes those fields from the header
// and returns them as flags; the Writer adds them. Line ends are LF in the
// file and CRLF in what Reader returns and Writer expects.
package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Format is the quoting convention.
type Format int

// Quoting conventions.
const (
	MboxRD Format = iota
	MboxO
)

// Message is one message of an mbox.
type Message struct {
	// From is the sender of the From_ line ("MAILER-DAEMON" when empty).
	From string
	// Date is the From_ line's date (zero when unparsable).
	Date time.Time
	// Data is the message with CRLF line ends and the flag fields removed.
	Data  []byte
	Flags []string
	// Offset is where the From_ line starts in the file.
	Offset int64
}

// Reader splits an mbox into messages.
type Reader struct {
	br     *bufio.Reader
	format Format
	max    int64
	off    int64
	next   []byte // a From_ line already read
	nextAt int64
	done   bool
}

// ErrTooLarge is returned for a message over the Reader's limit.
var ErrTooLarge = errors.New("mbox: message too large")

// NewReader reads an mbox; max bounds one message (0 = 1 GiB).
func NewReader(r io.Reader, f Format, max int64) *Reader {
	if max <= 0 {
		max = 1 << 30
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), format: f, max: max}
}

// readLine returns the next line with its LF (nil at EOF).
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			buf = append(buf, line...)
			if int64(len(buf)) > r.max {
				return nil, ErrTooLarge
			}
		}
		line = buf
	} else {
		line = append([]byte(nil), line...)
	}
	r.off += int64(len(line))
	if err == io.EOF {
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	}
	return line, err
}

func isFromLine(line []byte) bool { return bytes.HasPrefix(line, []byte("From ")) }

// Next returns the next message, or io.EOF after the last one. A "From "
// line starts a message only at the start of the file or after an empty
// line (the separator), so an unquoted "From " inside a paragraph of a
// badly written mbox stays in its message.
func (r *Reader) Next() (*Message, error) {
	if r.done {
		return nil, io.EOF
	}
	from, at := r.next, r.nextAt
	r.next = nil
	for from == nil {
		// Skip anything before the first From_ line (blank lines).
		at = r.off
		line, err := r.readLine()
		if err == io.EOF {
			r.done = true
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if isFromLine(line) {
			from = line
		} else if len(bytes.TrimRight(line, "\r\n")) > 0 {
			return nil, fmt.Errorf("mbox: offset %d: not an mbox (no From_ line before the first message)", at)
		}
	}
	m := &Message{Offset: at}
	m.From, m.Date = parseFromLine(from)
	var body [][]byte
	var size int64
	prevBlank := false
	for {
		lineAt := r.off
		line, err := r.readLine()
		if err == io.EOF {
			r.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		if prevBlank && isFromLine(line) {
			r.next, r.nextAt = line, lineAt
			break
		}
		size += int64(len(line))
		if size > r.max {
			return nil, ErrTooLarge
		}
		prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
		body = append(body, line)
	}
	// The blank line before the next From_ (or at the end) separates.
	if n := len(body); n > 0 && len(bytes.TrimRight(body[n-1], "\r\n")) == 0 {
		body = body[:n-1]
	}
	m.Data, m.Flags = r.assemble(body)
	return m, nil
}

// assemble unquotes body lines, turns LF into CRLF and takes the flag
// fields out of the header.
func (r *Reader) assemble(lines [][]byte) ([]byte, []string) {
	var out bytes.Buffer
	var status, xstatus, keywords string
	inHeader := true
	for _, l := range lines {
		l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
		if inHeader {
			if len(l) == 0 {
				inHeader = false
			} else if v, ok := headerField(l, "Status"); ok {
				status = v
				continue
			} else if v, ok := headerField(l, "X-Status"); ok {
				xstatus = v
				continue
			} else if v, ok := headerField(l, "X-Keywords"); ok {
				keywords = v
				continue
			}
		}
		out.Write(unquote(l, r.format))
		out.WriteString("\r\n")
	}
	return out.Bytes(), statusFlags(status, xstatus, keywords)
}

func headerField(line []byte, name string) (string, bool) {
	if len(line) <= len(name) || line[len(name)] != ':' || !strings.EqualFold(string(line[:len(name)]), name) {
		return "", false
	}
	return strings.TrimSpace(string(line[len(name)+1:])), true
}

// unquote removes one '>' from a quoted From line.
func unquote(l []byte, f Format) []byte {
	if len(l) == 0 || l[0] != '>' {
		return l
	}
	if f == MboxO {
		if bytes.HasPrefix(l, []byte(">From ")) {
			return l[1:]
		}
		return l
	}
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	if bytes.HasPrefix(l[i:], []byte("From ")) {
		return l[1:]
	}
	return l
}

func statusFlags(status, xstatus, keywords string) []string {
	var out []string
	if strings.ContainsRune(status, 'R') {
		out = append(out, store.FlagSeen)
	}
	for _, c := range []struct {
		letter rune
		flag   string
	}{{'A', store.FlagAnswered}, {'F', store.FlagFlagged}, {'T', store.FlagDraft}, {'D', store.FlagDeleted}} {
		if strings.ContainsRune(xstatus, c.letter) {
			out = append(out, c.flag)
		}
	}
	for _, k := range strings.FieldsFunc(keywords, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		out = append(out, k)
	}
	return out
}

// asctime is the From_ line's date layout.
const asctime = "Mon Jan _2 15:04:05 2006"

func parseFromLine(line []byte) (string, time.Time) {
	s := strings.TrimSpace(strings.TrimPrefix(string(line), "From "))
	sender, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	for _, layout := range []string{asctime, "Mon Jan _2 15:04:05 -0700 2006", "Mon Jan _2 15:04:05 MST 2006", "Mon Jan _2 15:04 2006"} {
		if t, err := time.Parse(layout, rest); err == nil {
			return sender, t
		}
	}
	return sender, time.Time{}
}

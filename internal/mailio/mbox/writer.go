package mbox

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Writer writes an mboxrd file.
type Writer struct {
	w *bufio.Writer
}

// NewWriter writes an mbox to w; call Flush at the end.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

// Write appends one message: the From_ line (sender "" is MAILER-DAEMON),
// the flag fields, then the message with CRLF turned into LF and
// ^>*From  lines quoted with one more '>', and a blank separator line. A
// message that does not end with a line end gets one.
func (w *Writer) Write(from string, date time.Time, data []byte, flags []string) error {
	if from == "" || strings.ContainsAny(from, " \t\r\n") {
		from = "MAILER-DAEMON"
	}
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	w.w.WriteString("From " + from + " " + date.UTC().Format(asctime) + "\n")
	w.w.WriteString(flagFields(flags))
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		i := 0
		for i < len(line) && line[i] == '>' {
			i++
		}
		if bytes.HasPrefix(line[i:], []byte("From ")) {
			w.w.WriteByte('>')
		}
		w.w.Write(line)
		w.w.WriteByte('\n')
	}
	_, err := w.w.WriteString("\n")
	return err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// flagFields renders flags as Status, X-Status and X-Keywords fields.
func flagFields(flags []string) string {
	status := "O" // old: seen by a mail reader (no \Recent)
	var xstatus strings.Builder
	var kw []string
	has := map[string]bool{}
	for _, f := range flags {
		has[strings.ToLower(f)] = true
		if !strings.HasPrefix(f, `\`) {
			kw = append(kw, f)
		}
	}
	if has[strings.ToLower(store.FlagSeen)] {
		status = "RO"
	}
	for _, c := range []struct {
		letter byte
		flag   string
	}{{'A', store.FlagAnswered}, {'F', store.FlagFlagged}, {'T', store.FlagDraft}, {'D', store.FlagDeleted}} {
		if has[strings.ToLower(c.flag)] {
			xstatus.WriteByte(c.letter)
		}
	}
	out := "Status: " + status + "\n"
	if xstatus.Len() > 0 {
		out += "X-Status: " + xstatus.String() + "\n"
	}
	if len(kw) > 0 {
		out += "X-Keywords: " + strings.Join(kw, " ") + "\n"
	}
	return out
}

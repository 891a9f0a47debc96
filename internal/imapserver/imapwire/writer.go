package imapwire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"time"
)

// Writer writes responses (RFC 9051 §7). Errors are sticky: once a write
// fails, later writes do nothing and Flush returns the error.
type Writer struct {
	bw  *bufio.Writer
	err error
	// UTF8 allows 8-bit text in quoted strings (IMAP4rev2, UTF8=ACCEPT);
	// otherwise such strings go out as literals.
	UTF8 bool
}

// NewWriter returns a writer over bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// Reset makes w write to bw (after STARTTLS).
func (w *Writer) Reset(bw *bufio.Writer) { w.bw, w.err = bw, nil }

func (w *Writer) write(p []byte) {
	if w.err == nil {
		_, w.err = w.bw.Write(p)
	}
}

// Raw writes s as it is (protocol text the caller has checked).
func (w *Writer) Raw(s string) *Writer {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
	return w
}

// Byte writes one byte.
func (w *Writer) Byte(c byte) *Writer {
	if w.err == nil {
		w.err = w.bw.WriteByte(c)
	}
	return w
}

// SP writes a space.
func (w *Writer) SP() *Writer { return w.Byte(' ') }

// Number writes a number.
func (w *Writer) Number(n uint64) *Writer {
	var b [20]byte
	w.write(strconv.AppendUint(b[:0], n, 10))
	return w
}

// NIL writes NIL.
func (w *Writer) NIL() *Writer { return w.Raw("NIL") }

// CRLF ends a line.
func (w *Writer) CRLF() *Writer { return w.Raw("\r\n") }

// quotable reports whether s can be sent as a quoted string.
func (w *Writer) quotable(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\r' || c == '\n' || (c >= 0x80 && !w.UTF8) {
			return false
		}
	}
	return true
}

// String writes s as a quoted string, or as a literal when it cannot be
// quoted (CR, LF, 8-bit text without UTF8, long text). A NUL cannot be
// sent in a string: it is replaced by a space (RFC 9051 §4.3).
func (w *Writer) String(s string) *Writer {
	if w.quotable(s) {
		w.Byte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				w.Byte('\\')
			}
			w.Byte(s[i])
		}
		return w.Byte('"')
	}
	w.Byte('{').Number(uint64(len(s))).Raw("}\r\n")
	if w.err == nil {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == 0 {
				c = ' '
			}
			w.err = w.bw.WriteByte(c)
		}
	}
	return w
}

// NString writes s, or NIL when s is empty.
func (w *Writer) NString(s string) *Writer {
	if s == "" {
		return w.NIL()
	}
	return w.String(s)
}

// AString writes s as an atom when it is one, else as a string.
func (w *Writer) AString(s string) *Writer {
	if s != "" && !isNIL(s) {
		atom := true
		for i := 0; i < len(s); i++ {
			if !isAStringChar(s[i]) {
				atom = false
				break
			}
		}
		if atom {
			return w.Raw(s)
		}
	}
	return w.String(s)
}

func isNIL(s string) bool {
	return len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l'
}

// Mailbox writes a mailbox name: modified UTF-7 unless utf8 (RFC 6855).
func (w *Writer) Mailbox(name string, utf8 bool) *Writer {
	if !utf8 {
		name = EncodeUTF7(name)
	}
	return w.AString(name)
}

// Literal writes n octets from r as a literal ({n}). A plain literal never
// carries NUL (RFC 9051 §4.3): any NUL is sent as a space; callers that
// may have binary content send a literal8 or re-encode it first. If r
// ends early the connection is out of step: the error must close it.
func (w *Writer) Literal(r io.Reader, n int64) error {
	w.Byte('{').Number(uint64(n)).Raw("}\r\n")
	return w.copy(r, n, true)
}

// Literal8 writes n octets from r as a literal8 (~{n}, RFC 3516).
func (w *Writer) Literal8(r io.Reader, n int64) error {
	w.Raw("~{").Number(uint64(n)).Raw("}\r\n")
	return w.copy(r, n, false)
}

func (w *Writer) copy(r io.Reader, n int64, noNUL bool) error {
	if w.err != nil {
		return w.err
	}
	var buf [16 << 10]byte
	for n > 0 {
		k, err := r.Read(buf[:min(int64(len(buf)), n)])
		if k > 0 {
			chunk := buf[:k]
			if noNUL {
				for i := bytes.IndexByte(chunk, 0); i >= 0; i = bytes.IndexByte(chunk, 0) {
					chunk[i] = ' '
				}
			}
			w.write(chunk)
			n -= int64(k)
		}
		if w.err != nil {
			return w.err
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			w.err = err
			return err
		}
	}
	return nil
}

// DateTime writes a quoted date-time.
func (w *Writer) DateTime(t time.Time) *Writer {
	return w.Byte('"').Raw(FormatDateTime(t)).Byte('"')
}

// Tagged writes a tagged status response: tag status [code] text.
func (w *Writer) Tagged(tag, status, code, text string) *Writer {
	return w.Raw(tag).SP().status(status, code, text)
}

// Untagged writes "* status [code] text" (OK, NO, BAD, BYE, PREAUTH).
func (w *Writer) Untagged(status, code, text string) *Writer {
	return w.Raw("* ").status(status, code, text)
}

func (w *Writer) status(status, code, text string) *Writer {
	w.Raw(status).SP()
	if code != "" {
		w.Byte('[').Raw(code).Raw("] ")
	}
	if text == "" {
		text = "Done"
	}
	return w.Raw(sanitize(text)).CRLF()
}

// sanitize keeps free text on one line.
func sanitize(s string) string {
	if !bytes.ContainsAny([]byte(s), "\r\n\x00") {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

// Continue writes a continuation request.
func (w *Writer) Continue(text string) *Writer {
	if text == "" {
		return w.Raw("+\r\n")
	}
	return w.Raw("+ ").Raw(sanitize(text)).CRLF()
}

// Flush sends what is buffered.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// MailboxString writes a mailbox name as a string (quoted where it can
// be): modified UTF-7 unless utf8 (RFC 6855).
func (w *Writer) MailboxString(name string, utf8 bool) *Writer {
	if !utf8 {
		name = EncodeUTF7(name)
	}
	return w.String(name)
}

package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what a client may send in one command. Zero fields take
// the defaults noted.
type Limits struct {
	// MaxLine bounds one line of a command, literals excluded (default
	// 64 KiB; RFC 7162 §4 asks for at least 8,192 octets).
	MaxLine int
	// MaxLiteral bounds an ordinary literal (a string argument: LOGIN
	// password, mailbox name, search key), default 64 KiB. APPEND's
	// message literal is bounded by its own limit (see OpenLiteral).
	MaxLiteral int64
	// MaxCommand bounds the lines and ordinary literals of one command
	// together (default 1 MiB).
	MaxCommand int
	// MaxDepth bounds the nesting of parenthesised lists (default 32).
	MaxDepth int
	// MaxDiscard is how many octets of refused non-synchronising literals
	// the reader drops to stay in step with the client; more than that and
	// the connection must be closed (default 1 MiB). An over-long line is
	// dropped up to 16 times MaxLine.
	MaxDiscard int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = 64 << 10
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = 64 << 10
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = 1 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxDiscard <= 0 {
		l.MaxDiscard = 1 << 20
	}
	return l
}

// MaxLiteralMinus is the largest LITERAL- literal (RFC 7888 §3).
const MaxLiteralMinus = 4096

// Error is a command the server refuses: Status is "BAD" or "NO", Code an
// optional response code (RFC 5530). The connection stays usable once the
// command is discarded (Reader.Discard).
type Error struct {
	Status string
	Code   string
	Text   string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Status + " [" + e.Code + "] " + e.Text
	}
	return e.Status + " " + e.Text
}

// Bad returns a BAD error.
func Bad(format string, args ...any) *Error {
	return &Error{Status: "BAD", Text: fmt.Sprintf(format, args...)}
}

// ErrFatal wraps failures after which the stream cannot be trusted: the
// connection must be closed (after a BYE where possible).
var ErrFatal = errors.New("imapwire: connection out of step")

func fatal(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFatal}, args...)...)
}

// Literal describes a literal announced at the end of a line: {n},
// {n+}/{n-} (non-synchronising, RFC 7888) or ~{n} (literal8, RFC 3516).
type Literal struct {
	Size   int64
	Sync   bool // the client waits for "+" before sending it
	Binary bool // literal8: may carry NUL
}

// Reader parses commands from a client. It is streaming: arguments are
// read one at a time, literals only when a handler asks for them, so a
// synchronising literal gets its "+" only once the command is known to be
// acceptable so far. After any refused command, Discard must be called: it
// reads and drops whatever of the command the client will still send
// without waiting (non-synchronising literals and the lines after them),
// so that the next command starts where the client thinks it does.
type Reader struct {
	br  *bufio.Reader
	lim Limits
	// Continue sends a continuation request ("+ ...") and flushes; it is
	// called before reading a synchronising literal.
	Continue func() error

	line    []byte // the current line without CRLF
	pos     int
	total   int     // octets of the command so far
	lit     *litEnd // literal announced at the end of line, nil if none
	tooLong bool    // the line was over MaxLine and was dropped
	open    *literalReader
	fatal   error
}

// litEnd is the literal announced at the end of the current line.
type litEnd struct {
	Literal
	start   int  // index in line of '{' or '~'
	invalid bool // LITERAL- over 4,096 octets: refused, its octets follow
}

// NewReader returns a reader over br.
func NewReader(br *bufio.Reader, lim Limits) *Reader {
	return &Reader{br: br, lim: lim.withDefaults()}
}

// Limits returns the reader's limits with defaults applied.
func (r *Reader) Limits() Limits { return r.lim }

// readLine reads the next line of the current command into r.line. A line
// longer than MaxLine is dropped (up to MaxDiscard octets; more is fatal)
// and marked tooLong; its announced literal, if any, is still noted so
// that Discard can skip it.
func (r *Reader) readLine() error {
	r.line, r.pos, r.lit, r.tooLong = r.line[:0], 0, nil, false
	var tail []byte // the end of a dropped line, for its literal marker
	var head []byte // its start, for the tag
	var dropped int64
	for {
		chunk, err := r.br.ReadSlice('\n')
		switch {
		case r.tooLong:
			dropped += int64(len(chunk))
			tail = append(tail, chunk...)
			if len(tail) > 64 {
				tail = append(tail[:0], tail[len(tail)-64:]...)
			}
			if dropped > 16*int64(r.lim.MaxLine) {
				return r.fail(fatal("line over %d octets", 16*r.lim.MaxLine))
			}
		case len(r.line)+len(chunk) > r.lim.MaxLine+2:
			r.tooLong = true
			dropped = int64(len(r.line) + len(chunk))
			head = append(append(head, r.line...), chunk...)
			head = head[:min(len(head), 64)]
			tail = append(tail, chunk...)
			r.line = r.line[:0]
		default:
			r.line = append(r.line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && (len(r.line) > 0 || dropped > 0) {
				err = io.ErrUnexpectedEOF
			}
			return r.fail(err)
		}
		break
	}
	if r.tooLong {
		tail = trimEOL(tail)
		if l := literalAtEnd(tail); l != nil {
			l.start = -1 // not in r.line: only for Discard
			r.lit = l
		}
		r.line = append(r.line, head...) // for the tag only: r.pos is at its end
		r.pos = len(r.line)
		r.total += int(min(dropped, int64(r.lim.MaxCommand)+1))
		return nil
	}
	r.line = trimEOL(r.line)
	r.total += len(r.line)
	r.lit = literalAtEnd(r.line)
	return nil
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// literalAtEnd finds a literal marker ending b: "{n}", "{n+}", "{n-}" or
// "~{n}".
func literalAtEnd(b []byte) *litEnd {
	if len(b) < 3 || b[len(b)-1] != '}' {
		return nil
	}
	i := bytes.LastIndexByte(b, '{')
	if i < 0 {
		return nil
	}
	digits := b[i+1 : len(b)-1]
	l := &litEnd{start: i}
	l.Sync = true
	minus := false
	switch {
	case bytes.HasSuffix(digits, []byte("+")):
		digits, l.Sync = digits[:len(digits)-1], false
	case bytes.HasSuffix(digits, []byte("-")):
		digits, l.Sync, minus = digits[:len(digits)-1], false, true
	}
	if len(digits) == 0 || len(digits) > 18 {
		return nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return nil
	}
	l.Size = n
	l.invalid = minus && n > MaxLiteralMinus
	if i > 0 && b[i-1] == '~' {
		l.Binary = true
		l.start = i - 1
	}
	return l
}

func (r *Reader) fail(err error) error {
	if r.fatal == nil {
		r.fatal = err
	}
	return r.fatal
}

// LineTooLong reports whether the current line was over MaxLine (and
// dropped).
func (r *Reader) LineTooLong() bool { return r.tooLong }

// Err returns the error that made the reader unusable, if any.
func (r *Reader) Err() error { return r.fatal }

// Begin reads the next command's tag and name (upper case; "UID FETCH"
// and the like for UID commands). A line that is empty or has no tag gets
// an error with tag "*".
func (r *Reader) Begin() (tag, name string, err error) {
	if r.fatal != nil {
		return "", "", r.fatal
	}
	r.total, r.open = 0, nil
	if err := r.readLine(); err != nil {
		return "", "", err
	}
	if r.tooLong {
		tag = "*"
		if i := bytes.IndexByte(r.line, ' '); i > 0 && validTag(r.line[:i]) {
			tag = string(r.line[:i])
		}
		return tag, "", &Error{Status: "BAD", Text: "Command line too long"}
	}
	tag, err = r.tag()
	if err != nil {
		return "*", "", err
	}
	if err := r.SP(); err != nil {
		return tag, "", err
	}
	name, err = r.Atom()
	if err != nil {
		return tag, "", err
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		if err := r.SP(); err != nil {
			return tag, name, err
		}
		sub, err := r.Atom()
		if err != nil {
			return tag, name, err
		}
		name += " " + strings.ToUpper(sub)
	}
	return tag, name, nil
}

func validTag(b []byte) bool {
	for _, c := range b {
		if !isAStringChar(c) || c == '+' {
			return false
		}
	}
	return len(b) > 0
}

// tag parses a tag: ASTRING-CHARs except "+" (RFC 9051 §9).
func (r *Reader) tag() (string, error) {
	start := r.pos
	for r.pos < len(r.line) && isAStringChar(r.line[r.pos]) && r.line[r.pos] != '+' {
		r.pos++
	}
	if r.pos == start {
		return "", Bad("Missing or invalid tag")
	}
	return string(r.line[start:r.pos]), nil
}

// Discard finishes a command that was refused or failed: the rest of its
// line is dropped and, for every non-synchronising literal the client
// announced, its octets and the line after it too. A synchronising
// literal ends the command (the client waits for a "+" it will not get).
// An error means the connection must be closed.
func (r *Reader) Discard() error {
	if r.fatal != nil {
		return r.fatal
	}
	var dropped int64
	if o := r.open; o != nil {
		r.open = nil
		dropped += o.n
		if o.n > r.lim.MaxDiscard {
			return r.fail(fatal("%d octets of a literal left", o.n))
		}
		if err := o.drain(); err != nil {
			return r.fail(err)
		}
		if err := r.readLine(); err != nil {
			return err
		}
	}
	for {
		l := r.lit
		r.pos, r.lit = len(r.line), nil
		if l == nil || l.Sync {
			return nil
		}
		dropped += l.Size
		if dropped > r.lim.MaxDiscard {
			return r.fail(fatal("%d octets of non-synchronising literals to drop", dropped))
		}
		if _, err := io.CopyN(io.Discard, r.br, l.Size); err != nil {
			return r.fail(err)
		}
		if err := r.readLine(); err != nil {
			return err
		}
	}
}

// atEnd reports whether the line has been parsed to its end.
func (r *Reader) atEnd() bool { return r.pos >= len(r.line) }

// peek returns the next byte of the line, 0 at its end.
func (r *Reader) peek() byte {
	if r.pos >= len(r.line) {
		return 0
	}
	return r.line[r.pos]
}

// Peek returns the next byte of the current line (0 at its end) without
// consuming it.
func (r *Reader) Peek() byte { return r.peek() }

// AtEnd reports whether the current line has been read to its end.
func (r *Reader) AtEnd() bool { return r.atEnd() }

// SP consumes one space.
func (r *Reader) SP() error {
	if r.peek() != ' ' {
		return Bad("Expected a space")
	}
	r.pos++
	return nil
}

// Byte consumes c.
func (r *Reader) Byte(c byte) error {
	if r.peek() != c {
		return Bad("Expected %q", c)
	}
	r.pos++
	return nil
}

// TryByte consumes c if it is next.
func (r *Reader) TryByte(c byte) bool {
	if r.peek() == c {
		r.pos++
		return true
	}
	return false
}

// End checks that the command is complete: nothing left on its last line.
func (r *Reader) End() error {
	if !r.atEnd() {
		return Bad("Unexpected %q at the end of the command", clip(r.line[r.pos:]))
	}
	if r.lit != nil {
		return Bad("Unexpected literal")
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}

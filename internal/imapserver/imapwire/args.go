package imapwire

import (
	"bytes"
	"io"
	"strconv"
	"strings"
)

// RFC 9051 §9: atom-specials are "(" ")" "{" SP CTL list-wildcards
// quoted-specials resp-specials.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x1f && c < 0x7f
}

// ASTRING-CHAR = ATOM-CHAR / resp-specials
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

// Atom reads an atom.
func (r *Reader) Atom() (string, error) {
	start := r.pos
	for r.pos < len(r.line) && isAtomChar(r.line[r.pos]) {
		r.pos++
	}
	if r.pos == start {
		return "", Bad("Expected an atom")
	}
	return string(r.line[start:r.pos]), nil
}

// atomWith reads a run of bytes accepted by ok.
func (r *Reader) atomWith(ok func(byte) bool) string {
	start := r.pos
	for r.pos < len(r.line) && ok(r.line[r.pos]) {
		r.pos++
	}
	return string(r.line[start:r.pos])
}

// AString reads an atom (with "]" allowed), a quoted string or a literal.
func (r *Reader) AString() (string, error) {
	switch r.peek() {
	case '"', '{', '~':
		return r.String()
	}
	s := r.atomWith(isAStringChar)
	if s == "" {
		return "", Bad("Expected a string")
	}
	return s, nil
}

// NString reads a string or NIL; ok is false for NIL.
func (r *Reader) NString() (s string, ok bool, err error) {
	if r.peek() == 'N' || r.peek() == 'n' {
		a, err := r.Atom()
		if err != nil || !strings.EqualFold(a, "NIL") {
			return "", false, Bad("Expected a string or NIL")
		}
		return "", false, nil
	}
	s, err = r.String()
	return s, err == nil, err
}

// String reads a quoted string or a literal (not literal8: strings carry
// no NUL).
func (r *Reader) String() (string, error) {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{':
		b, err := r.literal(false)
		return string(b), err
	case '~':
		return "", Bad("literal8 is not allowed here")
	}
	return "", Bad("Expected a string")
}

// quoted reads a quoted string (RFC 9051 §9: no CR, LF or NUL; only \" and
// \\ escaped).
func (r *Reader) quoted() (string, error) {
	r.pos++ // opening quote
	var b []byte
	for {
		if r.atEnd() {
			return "", Bad("Unterminated quoted string")
		}
		c := r.line[r.pos]
		r.pos++
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			if r.atEnd() || (r.line[r.pos] != '"' && r.line[r.pos] != '\\') {
				return "", Bad("Invalid escape in quoted string")
			}
			b = append(b, r.line[r.pos])
			r.pos++
		case 0, '\r', '\n':
			return "", Bad("Invalid character in quoted string")
		default:
			b = append(b, c)
		}
	}
}

// literalMark parses the literal marker at the cursor, which must be the
// one ending the line.
func (r *Reader) literalMark(binaryOK bool) (*litEnd, error) {
	l := r.lit
	if l == nil || l.start != r.pos {
		return nil, Bad("Invalid literal")
	}
	if l.invalid {
		return nil, Bad("Non-synchronising literal over %d octets (LITERAL-)", MaxLiteralMinus)
	}
	if l.Binary && !binaryOK {
		return nil, Bad("literal8 is not allowed here")
	}
	r.pos = len(r.line)
	return l, nil
}

// literal reads an ordinary literal argument (at most MaxLiteral octets,
// counted in MaxCommand), sending "+" first when it is synchronising.
func (r *Reader) literal(binaryOK bool) ([]byte, error) {
	l, err := r.literalMark(binaryOK)
	if err != nil {
		return nil, err
	}
	if l.Size > r.lim.MaxLiteral || r.total+int(l.Size) > r.lim.MaxCommand {
		return nil, &Error{Status: "BAD", Code: "TOOBIG", Text: "Literal too big"}
	}
	if l.Sync {
		if err := r.cont(); err != nil {
			return nil, err
		}
	}
	b := make([]byte, l.Size)
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, r.fail(err)
	}
	r.total += len(b)
	if !l.Binary && bytes.IndexByte(b, 0) >= 0 {
		// The octets are read: the command can be refused in step.
		if err := r.nextLine(); err != nil {
			return nil, err
		}
		return nil, Bad("NUL in a literal")
	}
	if err := r.nextLine(); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *Reader) cont() error {
	if r.Continue == nil {
		return nil
	}
	if err := r.Continue(); err != nil {
		return r.fail(err)
	}
	return nil
}

// nextLine reads the line that continues a command after a literal.
func (r *Reader) nextLine() error {
	if err := r.readLine(); err != nil {
		return err
	}
	if r.tooLong {
		return Bad("Command line too long")
	}
	if r.total > r.lim.MaxCommand {
		return Bad("Command too long")
	}
	return nil
}

// LiteralAhead returns the literal announced at the cursor (which must end
// the line) without reading it: the caller decides whether to accept it
// (OpenLiteral) or refuse the command (and Discard).
func (r *Reader) LiteralAhead(binaryOK bool) (Literal, error) {
	l, err := r.literalMark(binaryOK)
	if err != nil {
		return Literal{}, err
	}
	return l.Literal, nil
}

// OpenLiteral accepts the literal returned by LiteralAhead: it sends "+"
// if the client waits for one, and returns a reader of exactly its
// octets. The caller reads it to its end and then calls EndLiteral.
func (r *Reader) OpenLiteral() (io.Reader, error) {
	l := r.lit
	if l == nil || r.pos != len(r.line) {
		return nil, Bad("No literal to read")
	}
	if l.Sync {
		if err := r.cont(); err != nil {
			return nil, err
		}
	}
	r.lit = nil
	r.open = &literalReader{r: r, n: l.Size}
	return r.open, nil
}

// EndLiteral finishes a literal opened with OpenLiteral and reads the line
// that follows it.
func (r *Reader) EndLiteral() error {
	o := r.open
	if o == nil {
		return Bad("No literal open")
	}
	if o.n > 0 {
		return Bad("Literal not read to its end")
	}
	r.open = nil
	return r.nextLine()
}

type literalReader struct {
	r *Reader
	n int64
}

func (l *literalReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.br.Read(p)
	l.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		l.r.fail(err)
	}
	return n, err
}

func (l *literalReader) drain() error {
	_, err := io.Copy(io.Discard, l)
	return err
}

// Number reads a number (RFC 9051 §9: up to 4,294,967,295).
func (r *Reader) Number() (uint32, error) {
	n, err := r.Number64()
	if err != nil {
		return 0, err
	}
	if n > 1<<32-1 {
		return 0, Bad("Number too large")
	}
	return uint32(n), nil
}

// Number64 reads a number up to 2^63-1 (number64, RFC 9051 §9).
func (r *Reader) Number64() (int64, error) {
	s := r.atomWith(func(c byte) bool { return c >= '0' && c <= '9' })
	if s == "" {
		return 0, Bad("Expected a number")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, Bad("Number too large")
	}
	return n, nil
}

// List reads a parenthesised list, calling item for each element (item
// reads one element; spaces between elements are handled here). An empty
// list is allowed.
func (r *Reader) List(depth int, item func() error) error {
	if depth >= r.lim.MaxDepth {
		return &Error{Status: "BAD", Code: "LIMIT", Text: "Nesting too deep"}
	}
	if err := r.Byte('('); err != nil {
		return err
	}
	if r.TryByte(')') {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if r.TryByte(')') {
			return nil
		}
		if err := r.SP(); err != nil {
			return Bad("Expected a space or \")\" in a list")
		}
	}
}

// Flag reads a flag: "\" atom or a keyword atom (RFC 9051 §9).
func (r *Reader) Flag() (string, error) {
	bs := r.TryByte('\\')
	if bs && r.TryByte('*') {
		return `\*`, nil
	}
	a, err := r.Atom()
	if err != nil {
		return "", Bad("Invalid flag")
	}
	if bs {
		return `\` + a, nil
	}
	return a, nil
}

// Flags reads a parenthesised flag list; with paren false a single flag
// without parentheses is also accepted (STORE allows both).
func (r *Reader) Flags(paren bool) ([]string, error) {
	if r.peek() != '(' {
		if paren {
			return nil, Bad("Expected a flag list")
		}
		var out []string
		for {
			f, err := r.Flag()
			if err != nil {
				return nil, err
			}
			out = append(out, f)
			if r.peek() != ' ' || r.pos+1 >= len(r.line) || r.line[r.pos+1] == '(' {
				return out, nil
			}
			r.pos++
		}
	}
	var out []string
	err := r.List(0, func() error {
		f, err := r.Flag()
		out = append(out, f)
		return err
	})
	return out, err
}

// Mailbox reads a mailbox name and decodes modified UTF-7 (RFC 3501
// §5.1.3) unless utf8 is set (UTF8=ACCEPT, RFC 6855: names are UTF-8).
// INBOX in any case is returned as "INBOX".
func (r *Reader) Mailbox(utf8 bool) (string, error) {
	s, err := r.AString()
	if err != nil {
		return "", err
	}
	return DecodeMailbox(s, utf8)
}

// DecodeMailbox decodes a mailbox name as sent by a client.
func DecodeMailbox(s string, utf8 bool) (string, error) {
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	if utf8 && !isASCII(s) {
		return s, nil
	}
	d, err := DecodeUTF7(s)
	if err != nil {
		return "", Bad("Invalid modified UTF-7 mailbox name")
	}
	return d, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ListMailbox reads a LIST pattern: list-mailbox = 1*list-char / string,
// list-char adds "%" "*" "]" to ATOM-CHAR.
func (r *Reader) ListMailbox() (string, error) {
	switch r.peek() {
	case '"', '{':
		return r.String()
	}
	s := r.atomWith(func(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' })
	if s == "" {
		return "", Bad("Expected a mailbox pattern")
	}
	return s, nil
}

// Rest returns the unparsed rest of the current line (SASL responses,
// IDLE's DONE).
func (r *Reader) Rest() string {
	s := string(r.line[r.pos:])
	r.pos = len(r.line)
	return s
}

// ReadLine reads a line that is not a command (an AUTHENTICATE response,
// IDLE's DONE), at most MaxLine octets; a longer one, or one announcing a
// literal, is an error after which the caller must Discard.
func (r *Reader) ReadLine() (string, error) {
	r.total = 0
	if err := r.readLine(); err != nil {
		return "", err
	}
	if r.tooLong {
		return "", Bad("Line too long")
	}
	if r.lit != nil {
		return "", Bad("Unexpected literal")
	}
	return r.Rest(), nil
}

// Buffered returns how many octets the client sent that are not read yet
// (STARTTLS must find none: RFC 9051 §6.2.1, CVE-2011-0411).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// PeekAtomFold reports whether the next atom is word (ASCII case
// insensitive), without consuming it.
func (r *Reader) PeekAtomFold(word string) bool {
	end := r.pos + len(word)
	if end > len(r.line) || !strings.EqualFold(string(r.line[r.pos:end]), word) {
		return false
	}
	return end == len(r.line) || !isAtomChar(r.line[end])
}

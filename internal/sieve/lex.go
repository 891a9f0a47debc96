// Package sieve is kantorpos's mail filtering language: a parser and an
// interpreter for Sieve (RFC 5228) and the extensions users ask for most.
//
// Parse turns a script into a checked Script; Script.Run evaluates it
// against one message and returns the actions to take. Running is bounded
// (steps, actions, redirects, include depth) and never touches the store:
// the caller carries the actions out (internal/sieve/deliver does, at local
// delivery).
//
// git.sr.ht/~emersion/go-sieve was considered as the parser: the module
// proxy here refuses it (403), so the grammar below is our own.
package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits on what Parse accepts.
const (
	MaxScriptSize = 64 << 10 // bytes
	maxDepth      = 24       // nested blocks and tests
	maxStringList = 1024
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tPunct // one of [ ] ( ) , ; { }
)

type token struct {
	kind tokKind
	text string // identifier, tag name (without ':'), string value, punct
	num  int64
	line int
}

// lexer splits a script into tokens (RFC 5228 8.1).
type lexer struct {
	src  string
	pos  int
	line int
}

// Error is a script error with its line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

func errf(line int, format string, args ...any) error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	if l.pos >= len(l.src) {
		return token{kind: tEOF, line: l.line}, nil
	}
	c := l.src[l.pos]
	line := l.line
	switch {
	case strings.IndexByte("[](),;{}", c) >= 0:
		l.pos++
		return token{kind: tPunct, text: string(c), line: line}, nil
	case c == ':':
		l.pos++
		id := l.ident()
		if id == "" {
			return token{}, errf(line, "':' without a tag name")
		}
		return token{kind: tTag, text: strings.ToLower(id), line: line}, nil
	case c == '"':
		s, err := l.quoted()
		return token{kind: tString, text: s, line: line}, err
	case c >= '0' && c <= '9':
		return l.number()
	case isIdentStart(c):
		id := l.ident()
		if strings.EqualFold(id, "text") && l.pos < len(l.src) && l.src[l.pos] == ':' {
			l.pos++
			s, err := l.multiline()
			return token{kind: tString, text: s, line: line}, err
		}
		return token{kind: tIdent, text: strings.ToLower(id), line: line}, nil
	}
	return token{}, errf(line, "unexpected character %q", c)
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (l *lexer) ident() string {
	start := l.pos
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if !isIdentStart(c) && !(c >= '0' && c <= '9' && l.pos > start) {
			break
		}
		l.pos++
	}
	return l.src[start:l.pos]
}

// skipSpace skips white space and both kinds of comment.
func (l *lexer) skipSpace() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return errf(l.line, "unterminated comment")
			}
			l.line += strings.Count(l.src[l.pos:l.pos+2+end], "\n")
			l.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

// quoted reads a quoted string: \" and \\ are escapes; any other backslash
// is dropped (RFC 5228 2.4.2).
func (l *lexer) quoted() (string, error) {
	line := l.line
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			return b.String(), nil
		case '\\':
			if l.pos+1 < len(l.src) {
				l.pos++
				c = l.src[l.pos]
			}
		}
		if c == '\n' {
			l.line++
		}
		b.WriteByte(c)
		l.pos++
	}
	return "", errf(line, "unterminated string")
}

// multiline reads "text:" up to a line holding only "."; a leading dot is
// unstuffed (RFC 5228 2.4.2).
func (l *lexer) multiline() (string, error) {
	line := l.line
	// The rest of the "text:" line may hold white space and a comment.
	for l.pos < len(l.src) && (l.src[l.pos] == ' ' || l.src[l.pos] == '\t') {
		l.pos++
	}
	if l.pos < len(l.src) && l.src[l.pos] == '#' {
		for l.pos < len(l.src) && l.src[l.pos] != '\n' {
			l.pos++
		}
	}
	if strings.HasPrefix(l.src[l.pos:], "\r\n") {
		l.pos += 2
	} else if strings.HasPrefix(l.src[l.pos:], "\n") {
		l.pos++
	} else {
		return "", errf(line, "text: must end its line")
	}
	l.line++
	var b strings.Builder
	for l.pos < len(l.src) {
		end := strings.IndexByte(l.src[l.pos:], '\n')
		var ln string
		if end < 0 {
			ln, l.pos = l.src[l.pos:], len(l.src)
		} else {
			ln, l.pos = l.src[l.pos:l.pos+end+1], l.pos+end+1
			l.line++
		}
		body := strings.TrimRight(ln, "\r\n")
		if body == "." {
			return b.String(), nil
		}
		if strings.HasPrefix(body, ".") {
			ln = ln[1:]
		}
		b.WriteString(strings.TrimSuffix(strings.TrimSuffix(ln, "\n"), "\r"))
		if strings.HasSuffix(ln, "\n") {
			b.WriteString("\r\n")
		}
	}
	return "", errf(line, "unterminated text: (no line with a single '.')")
}

// number reads a number with an optional K, M or G multiplier.
func (l *lexer) number() (token, error) {
	line := l.line
	start := l.pos
	for l.pos < len(l.src) && l.src[l.pos] >= '0' && l.src[l.pos] <= '9' {
		l.pos++
	}
	n, err := strconv.ParseInt(l.src[start:l.pos], 10, 64)
	if err != nil || n > 1<<40 {
		return token{}, errf(line, "number too large")
	}
	if l.pos < len(l.src) {
		switch l.src[l.pos] {
		case 'K', 'k':
			n <<= 10
			l.pos++
		case 'M', 'm':
			n <<= 20
			l.pos++
		case 'G', 'g':
			n <<= 30
			l.pos++
		}
	}
	return token{kind: tNumber, num: n, line: line}, nil
}

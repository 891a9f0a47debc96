package delivery

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on what a remote server may send us in one reply. RFC 5321
// 4.5.3.1.5 limits a reply line to 512 octets; we accept more because real
// servers exceed it, but never without bound.
const (
	maxReplyLineLen = 4096
	maxReplyLines   = 128
)

// Reply is one SMTP reply (RFC 5321 4.2), possibly multi-line.
type Reply struct {
	Code     int      // three-digit reply code, 200..599
	Enhanced string   // enhanced status code (RFC 3463) of the first line, "" if none
	Lines    []string // text of each line, without code and enhanced code, sanitised
}

// Text is the reply text on one line.
func (r Reply) Text() string { return strings.Join(r.Lines, " ") }

// String renders the reply the way it reads in a log or a DSN
// Diagnostic-Code: "550 5.1.1 text".
func (r Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != "" {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced)
	}
	if t := r.Text(); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	return b.String()
}

// Positive, Transient and Permanent classify the code (RFC 5321 4.2.1).
func (r Reply) Positive() bool  { return r.Code >= 200 && r.Code < 400 }
func (r Reply) Transient() bool { return r.Code >= 400 && r.Code < 500 }
func (r Reply) Permanent() bool { return r.Code >= 500 }

// errProtocol marks a reply that is not valid SMTP.
var errProtocol = errors.New("smtp protocol error")

// readReply reads one reply. A reply whose lines disagree on the code, a
// line longer than maxReplyLineLen or more than maxReplyLines lines is a
// protocol error (wrapping errProtocol). Bare LF line ends are tolerated.
func readReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	for n := 0; ; n++ {
		if n >= maxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d reply lines", errProtocol, maxReplyLines)
		}
		line, err := readLine(r, maxReplyLineLen)
		if err != nil {
			return Reply{}, err
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return Reply{}, err
		}
		if n == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return Reply{}, fmt.Errorf("%w: reply code changed from %d to %d", errProtocol, rep.Code, code)
		}
		enh, rest := splitEnhanced(code, text)
		if n == 0 {
			rep.Enhanced = enh
		}
		rep.Lines = append(rep.Lines, sanitize(rest))
		if !more {
			return rep, nil
		}
	}
}

// readLine reads one line ending in LF (the CR, if any, is removed) of at
// most max bytes, without buffering more than the reader's buffer.
func readLine(r *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > max+2 {
			return "", fmt.Errorf("%w: reply line longer than %d bytes", errProtocol, max)
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read reply: %w", err)
		}
		s := strings.TrimSuffix(string(buf[:len(buf)-1]), "\r")
		if len(s) > max {
			return "", fmt.Errorf("%w: reply line longer than %d bytes", errProtocol, max)
		}
		return s, nil
	}
}

// parseReplyLine splits "250-text", "250 text" or "250".
func parseReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("%w: short reply line %q", errProtocol, clip(line))
	}
	// RFC 5321 4.2: first digit 2-5, second 0-5, third 0-9.
	d0, d1, d2 := line[0], line[1], line[2]
	if d0 < '2' || d0 > '5' || d1 < '0' || d1 > '5' || d2 < '0' || d2 > '9' {
		return 0, false, "", fmt.Errorf("%w: bad reply code in %q", errProtocol, clip(line))
	}
	code = int(d0-'0')*100 + int(d1-'0')*10 + int(d2-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		return code, true, line[4:], nil
	case ' ':
		return code, false, line[4:], nil
	}
	return 0, false, "", fmt.Errorf("%w: bad separator in %q", errProtocol, clip(line))
}

// splitEnhanced removes a leading enhanced status code (RFC 3463
// "class.subject.detail") whose class matches the reply code's first digit.
func splitEnhanced(code int, text string) (enh, rest string) {
	i := strings.IndexByte(text, ' ')
	word := text
	if i >= 0 {
		word = text[:i]
	}
	if !validEnhanced(word) || int(word[0]-'0') != code/100 {
		return "", text
	}
	if i < 0 {
		return word, ""
	}
	return word, text[i+1:]
}

// validEnhanced reports whether s is "c.sss.ddd" with c in 2,4,5 and
// subject and detail of one to three digits.
func validEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// sanitize makes remote text safe to log and to put in a DSN header field:
// control characters and invalid UTF-8 become '?'.
func sanitize(s string) string {
	ok := utf8.ValidString(s)
	if ok {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f {
				ok = false
				break
			}
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if c == utf8.RuneError || c < 0x20 || c == 0x7f {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return sanitize(s)
}

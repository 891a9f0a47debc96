package sieve

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
)

// MaxBodyTest is how much of a body the body test reads (decoded text
// included); more is ignored.
const MaxBodyTest = 1 << 20

// Message is the message a script looks at.
type Message struct {
	fields []field
	size   int64
	raw    []byte // header section and the start of the body, for body tests
	hdrLen int
}

type field struct {
	name  string // lower case
	value string // unfolded, RFC 2047-decoded
}

// NewMessage reads a message's header section and up to MaxBodyTest bytes
// of its body from r; size is the whole message's size.
func NewMessage(r io.Reader, size int64) (*Message, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxBodyTest+256<<10))
	if err != nil {
		return nil, err
	}
	m := &Message{size: size, raw: raw}
	hdr := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		hdr, m.hdrLen = raw[:i+2], i+4
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		hdr, m.hdrLen = raw[:i+1], i+2
	} else {
		m.hdrLen = len(raw)
	}
	dec := &mime.WordDecoder{CharsetReader: charset.Reader}
	for _, f := range splitFields(hdr) {
		name, value, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if d, err := dec.DecodeHeader(value); err == nil {
			value = d
		}
		m.fields = append(m.fields, field{name: strings.ToLower(strings.TrimSpace(name)), value: value})
	}
	return m, nil
}

// splitFields splits a header section into unfolded fields (RFC 5322 2.2.3).
func splitFields(h []byte) []string {
	var out []string
	for _, line := range strings.SplitAfter(string(h), "\n") {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += line
			continue
		}
		out = append(out, line)
	}
	return out
}

// Header returns the values of the named field, in order.
func (m *Message) Header(name string) []string {
	name = strings.ToLower(name)
	var out []string
	for _, f := range m.fields {
		if f.name == name {
			out = append(out, f.value)
		}
	}
	return out
}

// Size is the message's size in octets.
func (m *Message) Size() int64 { return m.size }

// body returns the body under a transform (RFC 5173 5): the raw body, or
// the decoded parts whose type matches one of types ("" = all).
func (m *Message) body(raw bool, types []string, text bool) []string {
	if raw {
		return []string{string(m.raw[m.hdrLen:])}
	}
	e, err := message.Read(bytes.NewReader(m.raw))
	if e == nil {
		return nil
	}
	_ = err // an unknown charset still gives a readable entity
	var out []string
	walkErr := e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || len(out) >= 64 {
			return nil
		}
		if _, ok := part.Body.(io.Reader); !ok {
			return nil
		}
		mt, _, _ := part.Header.ContentType()
		if mt == "" {
			mt = "text/plain"
		}
		if strings.HasPrefix(mt, "multipart/") || !typeMatches(mt, types) {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(part.Body, MaxBodyTest))
		if text && mt == "text/html" {
			b = stripTags(b)
		}
		out = append(out, string(b))
		return nil
	})
	_ = walkErr
	return out
}

func typeMatches(mt string, types []string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		t = strings.ToLower(t)
		if t == "" || t == mt || !strings.Contains(t, "/") && strings.HasPrefix(mt, t+"/") {
			return true
		}
	}
	return false
}

// addresses parses a field value as an address list; a value that does not
// parse is taken whole as one address.
func addresses(v string) []string {
	l, err := mail.ParseAddressList(v)
	if err != nil {
		v = strings.TrimSpace(v)
		if i := strings.LastIndexByte(v, '<'); i >= 0 && strings.HasSuffix(v, ">") {
			v = v[i+1 : len(v)-1]
		}
		return []string{v}
	}
	out := make([]string, 0, len(l))
	for _, a := range l {
		out = append(out, a.Address)
	}
	return out
}

// stripTags reduces HTML to its text for the :text transform (RFC 5173
// 5.3 leaves the conversion to the implementation).
func stripTags(b []byte) []byte {
	out := make([]byte, 0, len(b))
	in := false
	for _, c := range b {
		switch {
		case c == '<':
			in = true
		case c == '>' && in:
			in = false
			out = append(out, ' ')
		case !in:
			out = append(out, c)
		}
	}
	return out
}

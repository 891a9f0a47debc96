package imapwire

import (
	"strconv"
	"strings"
)

// FetchAtt is one FETCH data item (RFC 9051 §6.4.5, RFC 3516 BINARY).
type FetchAtt struct {
	// Name is ENVELOPE, FLAGS, INTERNALDATE, RFC822.SIZE, BODYSTRUCTURE,
	// BODY (the structure without extensions), UID, RFC822,
	// RFC822.HEADER, RFC822.TEXT, or, with a Section: BODY, BINARY,
	// BINARY.SIZE.
	Name    string
	Section *Section
	Peek    bool     // BODY.PEEK / BINARY.PEEK: \Seen is not set
	Partial *Partial // <offset.count>
}

// Section is a body section: part numbers, then a specifier.
type Section struct {
	Part []uint32
	// Spec is "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"
	// or "MIME".
	Spec   string
	Fields []string // for HEADER.FIELDS[.NOT]
}

// Partial is a byte range of a section.
type Partial struct{ Offset, Count uint32 }

// String formats the section as it is echoed in the response, e.g.
// "1.HEADER.FIELDS (SUBJECT)".
func (s *Section) String() string {
	var b strings.Builder
	for i, p := range s.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(p), 10))
	}
	if s.Spec != "" {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Spec)
	}
	if strings.HasPrefix(s.Spec, "HEADER.FIELDS") {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// maxFetchAtts bounds the items of one FETCH.
const maxFetchAtts = 100

// FetchAtts reads the items of FETCH: one item, a macro (ALL, FAST, FULL)
// or a parenthesised list.
func (r *Reader) FetchAtts() ([]FetchAtt, error) {
	if r.peek() == '(' {
		var out []FetchAtt
		err := r.List(0, func() error {
			if len(out) >= maxFetchAtts {
				return &Error{Status: "BAD", Code: "LIMIT", Text: "Too many FETCH items"}
			}
			a, err := r.fetchAtt()
			out = append(out, a)
			return err
		})
		if err == nil && len(out) == 0 {
			err = Bad("Empty FETCH item list")
		}
		return out, err
	}
	save := r.pos
	word, _ := r.Atom()
	switch strings.ToUpper(word) {
	case "ALL":
		return atts("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"), nil
	case "FAST":
		return atts("FLAGS", "INTERNALDATE", "RFC822.SIZE"), nil
	case "FULL":
		return atts("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"), nil
	}
	r.pos = save
	a, err := r.fetchAtt()
	return []FetchAtt{a}, err
}

func atts(names ...string) []FetchAtt {
	out := make([]FetchAtt, len(names))
	for i, n := range names {
		out[i] = FetchAtt{Name: n}
	}
	return out
}

func (r *Reader) fetchAtt() (FetchAtt, error) {
	word := strings.ToUpper(r.atomWith(func(c byte) bool { return isAtomChar(c) && c != '[' }))
	var a FetchAtt
	switch word {
	case "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODYSTRUCTURE", "UID",
		"RFC822", "RFC822.HEADER", "RFC822.TEXT":
		return FetchAtt{Name: word}, nil
	case "BODY":
		if r.peek() != '[' {
			return FetchAtt{Name: "BODY"}, nil
		}
		a.Name = "BODY"
	case "BODY.PEEK":
		a.Name, a.Peek = "BODY", true
	case "BINARY":
		a.Name = "BINARY"
	case "BINARY.PEEK":
		a.Name, a.Peek = "BINARY", true
	case "BINARY.SIZE":
		a.Name = "BINARY.SIZE"
	default:
		return a, Bad("Unknown FETCH item %q", clip([]byte(word)))
	}
	sec, err := r.section(a.Name != "BODY")
	if err != nil {
		return a, err
	}
	a.Section = sec
	if r.peek() == '<' && a.Name != "BINARY.SIZE" {
		r.pos++
		off, err := r.Number()
		if err != nil {
			return a, err
		}
		if err := r.Byte('.'); err != nil {
			return a, err
		}
		n, err := r.Number()
		if err != nil || n == 0 {
			return a, Bad("Invalid partial")
		}
		if err := r.Byte('>'); err != nil {
			return a, err
		}
		a.Partial = &Partial{off, n}
	}
	return a, nil
}

// section reads "[" section-spec "]"; binary sections are part numbers
// only (RFC 3516 §4.1).
func (r *Reader) section(binary bool) (*Section, error) {
	if err := r.Byte('['); err != nil {
		return nil, err
	}
	s := &Section{}
	for r.peek() >= '0' && r.peek() <= '9' {
		n, err := r.Number()
		if err != nil || n == 0 {
			return nil, Bad("Invalid section part")
		}
		if len(s.Part) >= 64 {
			return nil, Bad("Section too deep")
		}
		s.Part = append(s.Part, n)
		if !r.TryByte('.') {
			break
		}
	}
	if r.peek() != ']' {
		if binary {
			return nil, Bad("Invalid BINARY section")
		}
		spec := strings.ToUpper(r.atomWith(func(c byte) bool { return isAtomChar(c) && c != '[' }))
		switch spec {
		case "HEADER", "TEXT":
		case "MIME":
			if len(s.Part) == 0 {
				return nil, Bad("MIME needs a part number")
			}
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			if err := r.SP(); err != nil {
				return nil, err
			}
			if err := r.List(0, func() error {
				f, err := r.AString()
				if len(s.Fields) >= 100 {
					return &Error{Status: "BAD", Code: "LIMIT", Text: "Too many header fields"}
				}
				s.Fields = append(s.Fields, strings.ToUpper(f))
				return err
			}); err != nil {
				return nil, err
			}
			if len(s.Fields) == 0 {
				return nil, Bad("Empty header field list")
			}
		default:
			return nil, Bad("Invalid section %q", clip([]byte(spec)))
		}
		s.Spec = spec
	}
	if err := r.Byte(']'); err != nil {
		return nil, err
	}
	return s, nil
}

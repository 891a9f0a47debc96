package imapserver

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
)

// Body sections (RFC 9051 §6.4.5 BODY[section], RFC 3516 BINARY[section])
// are located in the stored message by offsets, reading headers and
// boundary lines only: a part is then streamed from the store like the
// whole message.

// entity is one MIME entity of a message: [start, body) is its header,
// [body, end) its content.
type entity struct {
	start, body, end int64
	mediaType        string // lower case "type/subtype"
	params           map[string]string
	encoding         string // Content-Transfer-Encoding, lower case
	header           []byte // the raw header section (bounded)
}

// maxHeaderRead bounds how much of one header section is read.
const maxHeaderRead = 1 << 20

// parseEntity reads the header of the entity starting at start.
func parseEntity(c io.ReaderAt, start, end int64) entity {
	e := entity{start: start, end: end, mediaType: "text/plain"}
	br := bufio.NewReader(io.NewSectionReader(c, start, end-start))
	off := start
	var hdr []byte
	for {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			off += int64(len(line))
			if len(hdr) < maxHeaderRead {
				hdr = append(hdr, line...)
			}
			line, err = br.ReadSlice('\n')
		}
		off += int64(len(line))
		if len(bytes.TrimRight(line, "\r\n")) == 0 && len(line) > 0 {
			break
		}
		if len(hdr) < maxHeaderRead {
			hdr = append(hdr, line...)
		}
		if err != nil {
			break
		}
	}
	e.body, e.header = min(off, end), hdr
	for _, f := range headerFields(hdr) {
		switch strings.ToLower(f.name) {
		case "content-type":
			if mt, params, err := mime.ParseMediaType(f.value); err == nil {
				e.mediaType, e.params = mt, params
			}
		case "content-transfer-encoding":
			e.encoding = strings.ToLower(strings.TrimSpace(f.value))
		}
	}
	return e
}

type field struct {
	name, value string
	raw         []byte // the field's lines as sent, CRLF included
}

// headerFields splits a header section into fields (continuation lines
// unfolded in value), in time linear in its size.
func headerFields(hdr []byte) []field {
	var out []field
	var val []byte
	end := func() {
		if n := len(out); n > 0 {
			out[n-1].value = strings.TrimSpace(string(val))
		}
	}
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		if i < 0 {
			i = len(hdr) - 1
		}
		line := hdr[:i+1]
		hdr = hdr[i+1:]
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(out); n > 0 {
				out[n-1].raw = append(out[n-1].raw, line...)
				val = append(append(val, ' '), bytes.TrimSpace(line)...)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		end()
		out = append(out, field{name: strings.TrimSpace(string(line[:colon])), raw: append([]byte(nil), line...)})
		val = append(val[:0], bytes.TrimSpace(line[colon+1:])...)
	}
	end()
	return out
}

func (e entity) multipart() bool {
	return strings.HasPrefix(e.mediaType, "multipart/") && e.params["boundary"] != ""
}
func (e entity) message() bool {
	return e.mediaType == "message/rfc822" || e.mediaType == "message/global"
}

// maxParts bounds the parts of one multipart that are looked at.
const maxParts = 10000

// child returns part n (from 1) of a multipart entity, without parsing
// the parts after it.
func child(c io.ReaderAt, e entity, n uint32) (entity, bool) {
	kids := children(c, e, int(n))
	if len(kids) < int(n) {
		return e, false
	}
	return kids[n-1], true
}

// children splits a multipart entity into its parts, at most limit.
func children(c io.ReaderAt, e entity, limit int) []entity {
	delim := []byte("--" + e.params["boundary"])
	br := bufio.NewReader(io.NewSectionReader(c, e.body, e.end-e.body))
	off := e.body
	var out []entity
	partStart := int64(-1)
	prevLineEnd := int64(0) // offset of the CRLF before the current line
	limit = min(limit, maxParts)
	for len(out) < limit {
		lineStart := off
		line, err := br.ReadSlice('\n')
		whole := len(line) > 0 && line[len(line)-1] == '\n'
		for err == bufio.ErrBufferFull {
			off += int64(len(line))
			line, err = br.ReadSlice('\n')
			whole = false
		}
		off += int64(len(line))
		if bytes.HasPrefix(line, delim) && (whole || err != nil) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			closing := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if partStart >= 0 {
					out = append(out, parseEntity(c, partStart, max(partStart, prevLineEnd)))
				}
				if closing {
					return out
				}
				partStart = off
			}
		}
		// The line break before a boundary belongs to the boundary.
		prevLineEnd = lineStart
		if n := len(line); n > 0 && line[n-1] == '\n' {
			prevLineEnd = off - 1
			if n > 1 && line[n-2] == '\r' {
				prevLineEnd = off - 2
			}
		}
		if err != nil {
			break
		}
	}
	if partStart >= 0 && len(out) < limit {
		out = append(out, parseEntity(c, partStart, e.end))
	}
	return out
}

var errNoPart = errors.New("no such body part")

// locate finds the entity a part path names (RFC 9051 §6.4.5): part
// numbers go down multiparts; a message/rfc822 part's numbers address the
// parts of the message it carries; part 1 of a non-multipart is itself.
// The returned flag tells whether the entity is a whole message (root or
// encapsulated), for HEADER and TEXT.
func locate(c io.ReaderAt, size int64, path []uint32) (entity, error) {
	e := parseEntity(c, 0, size)
	for i, n := range path {
		if i > 0 && e.message() {
			e = parseEntity(c, e.body, e.end)
		}
		if e.multipart() {
			var ok bool
			if e, ok = child(c, e, n); !ok {
				return e, errNoPart
			}
			continue
		}
		if n != 1 {
			return e, errNoPart
		}
	}
	return e, nil
}

// sectionRange returns the bytes of a BODY section: a range of the
// message, or (for HEADER.FIELDS) bytes built from the header.
func sectionRange(c io.ReaderAt, size int64, sec *imapwire.Section) (off, n int64, built []byte, err error) {
	e, err := locate(c, size, sec.Part)
	if err != nil {
		return 0, 0, nil, err
	}
	msg := e
	if len(sec.Part) > 0 && sec.Spec != "" && sec.Spec != "MIME" {
		if !e.message() {
			return 0, 0, nil, errNoPart
		}
		msg = parseEntity(c, e.body, e.end)
	}
	switch sec.Spec {
	case "":
		if len(sec.Part) == 0 {
			return 0, size, nil, nil
		}
		return e.body, e.end - e.body, nil, nil
	case "MIME":
		return e.start, e.body - e.start, nil, nil
	case "HEADER":
		return msg.start, msg.body - msg.start, nil, nil
	case "TEXT":
		return msg.body, msg.end - msg.body, nil, nil
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		not := sec.Spec == "HEADER.FIELDS.NOT"
		var b []byte
		for _, f := range headerFields(msg.header) {
			want := false
			for _, name := range sec.Fields {
				if strings.EqualFold(name, f.name) {
					want = true
				}
			}
			if want != not {
				b = append(b, f.raw...)
			}
		}
		b = append(b, "\r\n"...)
		return 0, int64(len(b)), b, nil
	}
	return 0, 0, nil, errNoPart
}

// errUnknownCTE: BINARY of a part in an encoding we cannot decode
// (RFC 3516 §4.3: NO [UNKNOWN-CTE]).
var errUnknownCTE = errors.New("unknown content-transfer-encoding")

// binarySection returns the decoded content of a part (BINARY[part]);
// BINARY[] is the whole message with its parts decoded (binary.go).
func binarySection(c io.ReaderAt, size int64, part []uint32, limit int64) ([]byte, error) {
	if len(part) == 0 {
		b := make([]byte, min(size, limit))
		_, err := c.ReadAt(b, 0)
		if err == io.EOF {
			err = nil
		}
		return decodeMessage(b), err
	}
	e, err := locate(c, size, part)
	if err != nil {
		return nil, err
	}
	if e.multipart() {
		return nil, errNoPart
	}
	var r io.Reader = io.NewSectionReader(c, e.body, e.end-e.body)
	switch e.encoding {
	case "", "7bit", "8bit", "binary":
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	default:
		return nil, errUnknownCTE
	}
	b, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, errUnknownCTE
	}
	return b, nil
}

// base64Cleaner drops what is not base64 alphabet (line breaks, spaces,
// garbage), as MIME decoders must (RFC 2045 §6.8).
type base64Cleaner struct{ r io.Reader }

func (b *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := b.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

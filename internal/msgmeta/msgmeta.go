// Package msgmeta parses a message once, when it is stored, into the
// store.MessageMeta that IMAP FETCH and SEARCH use afterwards without
// touching the message again. Parsing is bounded: header size, part count,
// nesting depth and text size all have caps, so hostile MIME cannot make it
// slow or large.
package msgmeta

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // legacy charsets for decoding
	"github.com/emersion/go-message/textproto"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Limits bound the work Parse does.
type Limits struct {
	MaxHeader int   // bytes of header section kept and parsed (default 256 KiB)
	MaxText   int   // bytes of searchable body text kept (default 256 KiB)
	MaxParts  int   // MIME parts visited (default 1000)
	MaxDepth  int   // multipart nesting (default 32)
	MaxParse  int64 // bytes of the message read at all (default 64 MiB)
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeader <= 0 {
		l.MaxHeader = 256 << 10
	}
	if l.MaxText <= 0 {
		l.MaxText = 256 << 10
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 1000
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxParse <= 0 {
		l.MaxParse = 64 << 20
	}
	return l
}

// Parse reads a message and returns its metadata. It never fails on a
// malformed message: what cannot be parsed is left empty. An error means
// reading r failed.
func Parse(r io.Reader, l Limits) (*store.MessageMeta, error) {
	l = l.withDefaults()
	br := bufio.NewReaderSize(io.LimitReader(r, l.MaxParse), 32<<10)
	rawHeader, err := readHeader(br, l.MaxHeader)
	if err != nil {
		return nil, err
	}
	meta := &store.MessageMeta{Header: string(rawHeader)}
	h, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(append(rawHeader, '\r', '\n'))))
	if herr != nil {
		// Unparsable header: keep the raw text for SEARCH, index the body as text.
		meta.Text = readText(br, l.MaxText)
		return meta, nil
	}
	meta.Subject = decodeWords(h.Get("Subject"))
	meta.From = decodeWords(h.Get("From"))
	meta.To = decodeWords(h.Get("To"))
	meta.Cc = decodeWords(h.Get("Cc"))
	meta.Bcc = decodeWords(h.Get("Bcc"))
	meta.MessageID = strings.TrimSpace(h.Get("Message-Id"))
	if d, err := mail.ParseDate(strings.TrimSpace(h.Get("Date"))); err == nil {
		meta.Date = d.UTC()
	}
	t := &textCollector{limit: l.MaxText, parts: l.MaxParts, depth: l.MaxDepth}
	if e, _ := message.New(message.Header{Header: h}, br); e != nil {
		t.entity(e, 0)
	}
	meta.Text = t.b.String()
	return meta, nil
}

// readHeader returns the header section without the blank line that ends
// it, at most max bytes (the rest of an oversized header is skipped).
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An absurdly long header line: keep a part, skip the rest.
			if len(out) < max {
				out = append(out, line[:min(len(line), max-len(out))]...)
			}
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			out = append(out, '\r', '\n')
			if err != nil {
				return out, nil
			}
			continue
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return out, nil
		}
		if len(out)+len(line) <= max {
			out = append(out, line...)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
	}
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

// decodeWords decodes RFC 2047 encoded-words; undecodable text stays as is.
func decodeWords(s string) string {
	s = strings.TrimSpace(s)
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// textCollector gathers the searchable text of text/* parts.
type textCollector struct {
	b     strings.Builder
	limit int
	parts int
	depth int
}

func (t *textCollector) full() bool { return t.b.Len() >= t.limit || t.parts <= 0 }

// entity collects the text of e, whose body go-message has already
// decoded (transfer encoding and charset).
func (t *textCollector) entity(e *message.Entity, depth int) {
	if t.full() {
		return
	}
	t.parts--
	if mr := e.MultipartReader(); mr != nil {
		if depth >= t.depth {
			return
		}
		for !t.full() {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			t.entity(p, depth+1)
		}
		return
	}
	mt, _, _ := e.Header.ContentType()
	switch {
	case mt == "" || mt == "text/plain" || mt == "text/enriched":
		t.add(readText(e.Body, t.limit-t.b.Len()))
	case mt == "text/html":
		t.add(stripHTML(readText(e.Body, 4*(t.limit-t.b.Len()))))
	case mt == "message/rfc822":
		if depth < t.depth {
			inner := bufio.NewReader(e.Body)
			if ih, err := textproto.ReadHeader(inner); err == nil {
				t.add(decodeWords(ih.Get("Subject")))
				if ie, _ := message.New(message.Header{Header: ih}, inner); ie != nil {
					t.entity(ie, depth+1)
				}
			}
		}
	}
}

func (t *textCollector) add(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if room := t.limit - t.b.Len(); len(s) > room {
		s = s[:max(room, 0)]
	}
	if t.b.Len() > 0 {
		t.b.WriteByte('\n')
	}
	t.b.WriteString(s)
}

func readText(r io.Reader, n int) string {
	if n <= 0 {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(r, int64(n)))
	return strings.ToValidUTF8(string(b), "")
}

var (
	htmlDrop = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>`)
	htmlTag  = regexp.MustCompile(`(?s)<[^>]*>`)
)

// stripHTML reduces HTML to its text, well enough for a word index.
func stripHTML(s string) string {
	s = htmlDrop.ReplaceAllString(s, " ")
	s = htmlTag.ReplaceAllString(s, " ")
	r := strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'")
	return r.Replace(s)
}

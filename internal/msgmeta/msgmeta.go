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
	"time"

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

// Parse reads a message and returns its metadata, including the IMAP
// ENVELOPE and BODYSTRUCTURE caches (EncodeEnvelope, EncodeBodyStructure).
// It never fails on a malformed message: what cannot be parsed is left
// empty. An error means reading r failed. When the message is larger than
// MaxParse the BODYSTRUCTURE cache is left empty (its sizes would be wrong):
// the reader then builds it from the message when asked.
func Parse(r io.Reader, l Limits) (*store.MessageMeta, error) {
	l = l.withDefaults()
	counted := &countReader{r: io.LimitReader(r, l.MaxParse+1)}
	br := bufio.NewReaderSize(counted, 32<<10)
	rawHeader, err := readHeader(br, l.MaxHeader)
	if err != nil {
		return nil, err
	}
	meta := &store.MessageMeta{Header: string(rawHeader)}
	h, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(append(rawHeader, '\r', '\n'))))
	if herr != nil {
		// Unparsable header: keep the raw text for SEARCH, index the body as text.
		h = textproto.Header{}
	} else {
		meta.Subject = decodeWords(h.Get("Subject"))
		env := envelopeOf(h)
		meta.From = searchable(env.From, h.Get("From"))
		meta.To = searchable(env.To, h.Get("To"))
		meta.Cc = searchable(env.Cc, h.Get("Cc"))
		meta.Bcc = searchable(env.Bcc, h.Get("Bcc"))
		meta.MessageID = strings.TrimSpace(h.Get("Message-Id"))
		if d, err := mail.ParseDate(strings.TrimSpace(h.Get("Date"))); err == nil {
			meta.Date = asWritten(d)
		}
	}
	w := &walker{textCollector: textCollector{limit: l.MaxText}, parts: l.MaxParts, maxDepth: l.MaxDepth}
	root := w.part(h, br, 0, "")
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	if counted.err != nil && !errors.Is(counted.err, io.EOF) {
		return nil, counted.err
	}
	meta.Text = w.b.String()
	meta.Envelope = EncodeEnvelope(envelopeOf(h))
	if counted.n <= l.MaxParse {
		meta.BodyStructure = EncodeBodyStructure(root)
	}
	return meta, nil
}

// Structure parses the envelope and MIME structure of a whole message,
// for messages whose caches are missing. Only the part and depth limits
// of l apply.
func Structure(r io.Reader, l Limits) (*Envelope, *Part, error) {
	l = l.withDefaults()
	br := bufio.NewReaderSize(r, 32<<10)
	rawHeader, err := readHeader(br, l.MaxHeader)
	if err != nil {
		return nil, nil, err
	}
	h, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(append(rawHeader, '\r', '\n'))))
	if herr != nil {
		h = textproto.Header{}
	}
	w := &walker{textCollector: textCollector{limit: 0}, parts: l.MaxParts, maxDepth: l.MaxDepth}
	root := w.part(h, br, 0, "")
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, nil, err
	}
	return envelopeOf(h), root, nil
}

// countReader counts the bytes and lines read through it and keeps the
// first read error.
type countReader struct {
	r     io.Reader
	n     int64
	lines int64
	err   error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
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

// asWritten returns the date and time of d as written in its own zone,
// labelled UTC: SENTON, SENTBEFORE and SENTSINCE compare the date of the
// Date header disregarding its time zone (RFC 9051 §6.4.4), so a message
// sent "Tue, 3 Mar 2026 23:30 -0500" is SENTON 3-Mar-2026.
func asWritten(d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, time.UTC)
}

// searchable is the text SEARCH FROM/TO/CC/BCC look in: the envelope's
// addresses (RFC 3501 §6.4.4), so that comments and folding in the header
// do not hide them; the decoded header value when no address parsed.
func searchable(l []Address, raw string) string {
	if v := formatAddresses(l); v != "" {
		return v
	}
	return decodeWords(raw)
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
}

func (t *textCollector) room() int { return t.limit - t.b.Len() }

// walker visits the MIME tree once, building the structure and collecting
// text, within a budget of parts and a depth cap.
type walker struct {
	textCollector
	parts    int
	maxDepth int
}

func emptyText() *Part {
	return &Part{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"}}
}

// part reads the (encoded) body of a part whose header is h from r and
// returns its structure. parent is the media type of the enclosing multipart.
func (w *walker) part(h textproto.Header, r io.Reader, depth int, parent string) *Part {
	mh := message.Header{Header: h}
	mt, params := contentType(mh, parent)
	w.parts--
	deep := depth >= w.maxDepth
	if strings.HasPrefix(mt, "multipart/") && (deep || params["boundary"] == "") {
		// Too deep to descend (or no boundary): an opaque leaf.
		mt, params = "application/octet-stream", nil
	}
	if (mt == "message/rfc822" || mt == "message/global") && deep {
		mt, params = "application/octet-stream", nil
	}
	p := leafPart(mh, mt, params)
	if p.IsMultipart() {
		mr := textproto.NewMultipartReader(r, params["boundary"])
		for w.parts > 0 {
			np, err := mr.NextPart()
			if err != nil {
				break
			}
			p.Children = append(p.Children, w.part(np.Header, np, depth+1, mt))
		}
		if len(p.Children) == 0 {
			p.Children = []*Part{emptyText()} // IMAP needs at least one
		}
		return p
	}
	cr := &countReader{r: r}
	switch {
	case mt == "message/rfc822" || mt == "message/global":
		br := bufio.NewReader(cr)
		if ih, err := textproto.ReadHeader(br); err == nil {
			p.Envelope = envelopeOf(ih)
			w.add(p.Envelope.Subject)
			p.Body = w.part(ih, br, depth+1, mt)
		} else {
			p.Envelope, p.Body = &Envelope{}, emptyText()
		}
		io.Copy(io.Discard, br)
	case p.Type == "text" && w.room() > 0:
		if e, _ := message.New(mh, cr); e != nil {
			switch mt {
			case "text/plain", "text/enriched":
				w.add(readText(e.Body, w.room()))
			case "text/html":
				w.add(stripHTML(readText(e.Body, 4*w.room())))
			}
		}
	}
	io.Copy(io.Discard, cr)
	p.Size = uint32(min(cr.n, 1<<32-1))
	if p.Type == "text" || p.Type == "message" {
		p.Lines = cr.lines
	}
	return p
}

func (t *textCollector) add(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if t.b.Len() > 0 {
		s = "\n" + s
	}
	if room := t.limit - t.b.Len(); len(s) > room {
		s = strings.ToValidUTF8(s[:max(room, 0)], "")
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

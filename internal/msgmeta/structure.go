package msgmeta

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Envelope is the IMAP ENVELOPE of a message (RFC 9051 7.5.2) in a
// protocol-neutral form: decoded UTF-8 subject and names, message
// identifiers without angle brackets. It is cached per blob in
// store.MessageMeta.Envelope (see EncodeEnvelope).
type Envelope struct {
	Date      time.Time `json:"d"`
	Subject   string    `json:"s,omitempty"`
	From      []Address `json:"f,omitempty"`
	Sender    []Address `json:"se,omitempty"`
	ReplyTo   []Address `json:"r,omitempty"`
	To        []Address `json:"t,omitempty"`
	Cc        []Address `json:"c,omitempty"`
	Bcc       []Address `json:"b,omitempty"`
	InReplyTo []string  `json:"i,omitempty"`
	MessageID string    `json:"m,omitempty"`
}

// Address is one mailbox of an address list, or a group marker (see
// IsGroupStart, IsGroupEnd in address.go).
type Address struct {
	Name    string `json:"n,omitempty"`
	ADL     string `json:"a,omitempty"` // source route, "@a,@b" (RFC 5322 §4.4)
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
}

// Part is one node of the MIME structure of a message, what IMAP
// BODYSTRUCTURE reports (RFC 9051 7.5.2). Sizes and line counts are those of
// the encoded body as stored. A multipart has Children; a message/rfc822
// has Envelope and Body.
type Part struct {
	Type              string            `json:"t"`
	Subtype           string            `json:"st"`
	Params            map[string]string `json:"p,omitempty"`
	ID                string            `json:"id,omitempty"`
	Description       string            `json:"ds,omitempty"`
	Encoding          string            `json:"e,omitempty"`
	Size              uint32            `json:"sz,omitempty"`
	Lines             int64             `json:"l,omitempty"`
	Disposition       string            `json:"dp,omitempty"`
	DispositionParams map[string]string `json:"dpp,omitempty"`
	Language          []string          `json:"lg,omitempty"`
	Location          string            `json:"lc,omitempty"`
	Children          []*Part           `json:"c,omitempty"`
	Envelope          *Envelope         `json:"env,omitempty"`
	Body              *Part             `json:"b,omitempty"`
}

// IsMultipart reports whether p is a multipart/* node.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// cacheVersion prefixes encoded caches so that the format can change: a
// cache with another prefix is treated as missing and rebuilt.
const cacheVersion = 1

// ErrNoCache is returned when a cache is empty or in an unknown format.
var ErrNoCache = errors.New("msgmeta: no usable cache")

// EncodeEnvelope encodes e for store.MessageMeta.Envelope.
func EncodeEnvelope(e *Envelope) []byte { return encode(e) }

// DecodeEnvelope decodes a cache made by EncodeEnvelope.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := decode(b, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// EncodeBodyStructure encodes p for store.MessageMeta.BodyStructure.
func EncodeBodyStructure(p *Part) []byte { return encode(p) }

// DecodeBodyStructure decodes a cache made by EncodeBodyStructure.
func DecodeBodyStructure(b []byte) (*Part, error) {
	var p Part
	if err := decode(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil // cannot happen for these types; an empty cache is re-parsed
	}
	return append([]byte{cacheVersion}, b...)
}

func decode(b []byte, v any) error {
	if len(b) < 2 || b[0] != cacheVersion {
		return ErrNoCache
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return ErrNoCache
	}
	return nil
}

// envelopeOf builds the envelope of a header section.
func envelopeOf(h textproto.Header) *Envelope {
	mh := mail.Header{Header: message.Header{Header: h}}
	date, _ := mh.Date()
	subject, err := mh.Subject()
	if err != nil {
		subject = strings.TrimSpace(h.Get("Subject"))
	}
	inReplyTo, _ := mh.MsgIDList("In-Reply-To")
	messageID, _ := mh.MessageID()
	return &Envelope{
		Date:      date,
		Subject:   strings.ToValidUTF8(subject, "\uFFFD"),
		From:      addressList(mh, "From"),
		Sender:    addressList(mh, "Sender"),
		ReplyTo:   addressList(mh, "Reply-To"),
		To:        addressList(mh, "To"),
		Cc:        addressList(mh, "Cc"),
		Bcc:       addressList(mh, "Bcc"),
		InReplyTo: inReplyTo,
		MessageID: messageID,
	}
}

// maxAddresses bounds one address list of an envelope.
const maxAddresses = 1000

func addressList(mh mail.Header, k string) []Address {
	if !mh.Has(k) {
		return nil
	}
	return parseAddressList(mh.Get(k), maxAddresses)
}

// leafPart fills the fields every part has from its header.
func leafPart(h message.Header, mediaType string, params map[string]string) *Part {
	typ, sub, _ := strings.Cut(mediaType, "/")
	p := &Part{
		Type:        typ,
		Subtype:     sub,
		Params:      params,
		ID:          clipField(h.Get("Content-Id")),
		Description: clipField(h.Get("Content-Description")),
		Encoding:    strings.ToLower(clipField(h.Get("Content-Transfer-Encoding"))),
		Location:    clipField(h.Get("Content-Location")),
	}
	if d, dp, err := h.ContentDisposition(); err == nil && d != "" {
		p.Disposition, p.DispositionParams = d, dp
	}
	if l := h.Get("Content-Language"); l != "" {
		for _, s := range strings.Split(l, ",") {
			if s = strings.TrimSpace(s); s != "" && len(p.Language) < 16 {
				p.Language = append(p.Language, clipField(s))
			}
		}
	}
	return p
}

// clipField bounds a header value copied into the structure.
func clipField(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return strings.ToValidUTF8(s, "")
}

// contentType returns the media type of a part: text/plain when absent or
// unparsable (RFC 2045 5.2), message/rfc822 by default in a multipart/digest.
func contentType(h message.Header, parent string) (string, map[string]string) {
	if !h.Has("Content-Type") {
		if parent == "multipart/digest" {
			return "message/rfc822", nil
		}
		return "text/plain", map[string]string{"charset": "us-ascii"}
	}
	mt, params, err := h.ContentType()
	if err != nil || !strings.Contains(mt, "/") {
		return "text/plain", map[string]string{"charset": "us-ascii"}
	}
	if len(params) > 32 {
		params = nil
	}
	for k, v := range params {
		params[k] = clipField(v)
	}
	return strings.ToLower(mt), params
}

package imapserver

import (
	"mime"
	"sort"
	"strings"

	"github.com/kantorpos/kantorpos/internal/msgmeta"
)

// text writes a header-derived string: UTF-8 as it is when the client
// enabled UTF8=ACCEPT, otherwise as RFC 2047 encoded words (IMAP4rev1
// strings are 7-bit), NIL when empty.
func (s *session) text(v string) {
	if v == "" {
		s.w.NIL()
		return
	}
	if !s.utf8 && !isASCII(v) {
		v = mime.QEncoding.Encode("utf-8", v)
	}
	s.w.String(v)
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeEnvelope writes an ENVELOPE (RFC 9051 §7.5.2). Sender and
// Reply-To default to From.
func (s *session) writeEnvelope(e *msgmeta.Envelope) {
	if e == nil {
		e = &msgmeta.Envelope{}
	}
	s.w.Byte('(')
	if e.Date.IsZero() {
		s.w.NIL()
	} else {
		s.w.String(e.Date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	s.w.SP()
	s.text(e.Subject)
	sender, replyTo := e.Sender, e.ReplyTo
	if len(sender) == 0 {
		sender = e.From
	}
	if len(replyTo) == 0 {
		replyTo = e.From
	}
	for _, l := range [][]msgmeta.Address{e.From, sender, replyTo, e.To, e.Cc, e.Bcc} {
		s.w.SP()
		s.writeAddresses(l)
	}
	s.w.SP()
	if len(e.InReplyTo) == 0 {
		s.w.NIL()
	} else {
		ids := make([]string, len(e.InReplyTo))
		for i, id := range e.InReplyTo {
			ids[i] = "<" + id + ">"
		}
		s.w.String(strings.Join(ids, " "))
	}
	s.w.SP()
	if e.MessageID == "" {
		s.w.NIL()
	} else {
		s.w.String("<" + e.MessageID + ">")
	}
	s.w.Byte(')')
}

func (s *session) writeAddresses(l []msgmeta.Address) {
	if len(l) == 0 {
		s.w.NIL()
		return
	}
	s.w.Byte('(')
	for _, a := range l {
		s.w.Byte('(')
		s.text(a.Name)
		s.w.SP()
		s.w.NString(a.ADL)
		s.w.SP()
		if a.IsGroupStart() {
			s.text(a.Mailbox) // the group's display name (RFC 9051 §7.5.2)
		} else {
			s.w.NString(a.Mailbox)
		}
		s.w.SP()
		s.w.NString(a.Host)
		s.w.Byte(')')
	}
	s.w.Byte(')')
}

// writeBodyStructure writes BODYSTRUCTURE (ext) or BODY (RFC 9051 §7.5.2).
func (s *session) writeBodyStructure(p *msgmeta.Part, ext bool, depth int) {
	if p == nil || depth > 64 {
		p = &msgmeta.Part{Type: "text", Subtype: "plain"}
	}
	s.w.Byte('(')
	if p.IsMultipart() {
		kids := p.Children
		if len(kids) == 0 {
			kids = []*msgmeta.Part{{Type: "text", Subtype: "plain"}}
		}
		for _, c := range kids {
			s.writeBodyStructure(c, ext, depth+1)
		}
		s.w.SP().String(orDefault(p.Subtype, "mixed"))
		if ext {
			s.w.SP()
			s.writeParams(p.Params)
			s.w.SP()
			s.writeDisposition(p)
			s.w.SP()
			s.writeLanguage(p.Language)
			s.w.SP().NString(p.Location)
		}
		s.w.Byte(')')
		return
	}
	s.w.String(orDefault(p.Type, "text")).SP().String(orDefault(p.Subtype, "plain")).SP()
	s.writeParams(p.Params)
	s.w.SP()
	s.w.NString(p.ID)
	s.w.SP()
	s.text(p.Description)
	s.w.SP().String(orDefault(p.Encoding, "7BIT")).SP().Number(uint64(p.Size))
	switch {
	case p.Type == "message" && p.Envelope != nil && p.Body != nil:
		s.w.SP()
		s.writeEnvelope(p.Envelope)
		s.w.SP()
		s.writeBodyStructure(p.Body, ext, depth+1)
		s.w.SP().Number(uint64(max(p.Lines, 0)))
	case p.Type == "text":
		s.w.SP().Number(uint64(max(p.Lines, 0)))
	}
	if ext {
		s.w.Raw(" NIL ") // MD5
		s.writeDisposition(p)
		s.w.SP()
		s.writeLanguage(p.Language)
		s.w.SP().NString(p.Location)
	}
	s.w.Byte(')')
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func (s *session) writeParams(params map[string]string) {
	if len(params) == 0 {
		s.w.NIL()
		return
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.w.Byte('(')
	for i, k := range keys {
		if i > 0 {
			s.w.SP()
		}
		s.w.String(k).SP()
		if params[k] == "" {
			s.w.String("")
		} else {
			s.text(params[k])
		}
	}
	s.w.Byte(')')
}

func (s *session) writeDisposition(p *msgmeta.Part) {
	if p.Disposition == "" {
		s.w.NIL()
		return
	}
	s.w.Byte('(').String(p.Disposition).SP()
	s.writeParams(p.DispositionParams)
	s.w.Byte(')')
}

func (s *session) writeLanguage(l []string) {
	if len(l) == 0 {
		s.w.NIL()
		return
	}
	s.w.Byte('(')
	for i, v := range l {
		if i > 0 {
			s.w.SP()
		}
		s.w.String(v)
	}
	s.w.Byte(')')
}

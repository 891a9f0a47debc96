package smtpserver

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
)

// field is one header field, unfolded (RFC 5322 2.2.3).
type field struct {
	name  string // as written
	value string // after the colon, folding CRLFs removed, trimmed
}

// parseFields splits a header section (as read by readHeader) into fields.
// Lines that are neither a field nor a continuation are ignored: the message
// is stored as received, this is only for our checks.
func parseFields(hdr []byte) []field {
	var out []field
	for len(hdr) > 0 {
		var line []byte
		if i := bytes.Index(hdr, []byte("\r\n")); i >= 0 {
			line, hdr = hdr[:i], hdr[i+2:]
		} else {
			line, hdr = hdr, nil
		}
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) > 0 {
				out[len(out)-1].value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			continue
		}
		out = append(out, field{name: string(line[:colon]), value: strings.TrimSpace(string(line[colon+1:]))})
	}
	for i := range out {
		out[i].value = strings.TrimSpace(out[i].value)
	}
	return out
}

// validFieldName: printable US-ASCII except colon (RFC 5322 2.2).
func validFieldName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// headerInfo is what the server needs from the header section.
type headerInfo struct {
	received  int
	from      []string // values of the From fields
	date      bool
	messageID bool
}

func inspectHeader(fields []field) headerInfo {
	var h headerInfo
	for _, f := range fields {
		switch strings.ToLower(f.name) {
		case "received":
			h.received++
		case "from":
			h.from = append(h.from, f.value)
		case "date":
			h.date = true
		case "message-id":
			h.messageID = true
		}
	}
	return h
}

// maxFromLen bounds the From value we parse (net/mail is not linear on
// every input).
const maxFromLen = 8 << 10

// addrParser parses From values. Display names in any charset are accepted
// without decoding: we only need the addresses.
func addrParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(charset string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
}

// fromAddresses returns the addresses of the From fields, or ok=false when
// there is none or one cannot be parsed.
func fromAddresses(values []string) (addrs []string, ok bool) {
	for _, v := range values {
		if len(v) > maxFromLen {
			return nil, false
		}
		list, err := addrParser().ParseList(v)
		if err != nil {
			return nil, false
		}
		for _, a := range list {
			addrs = append(addrs, a.Address)
		}
	}
	return addrs, len(addrs) > 0
}

package smtpserver

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
)

// errHeaderSyntax: a line of the header section that is neither a header
// field nor the continuation of one. Other parsers read such a line in
// different ways (a "From :" field seen by one and not by another is a
// sender spoof), so the message is refused, on every port.
var errHeaderSyntax = reply(554, 5, 6, 0, "Invalid header field in message (RFC 5322 2.2)")

// field is one header field, unfolded (RFC 5322 2.2.3).
type field struct {
	name  string // as written
	value string // after the colon, folding CRLFs removed, trimmed
}

// parseFields splits a header section (as read by readHeader) into fields.
// RFC 5322 2.2: a field is a name of printable US-ASCII characters other
// than the colon, immediately followed by a colon; a line that starts with
// white space continues the field before it (2.2.3). Any other line (a
// space before the colon, no colon, a continuation with nothing to
// continue) fails with errHeaderSyntax: the obsolete syntax of RFC 5322
// 4.5 is not accepted.
func parseFields(hdr []byte) ([]field, error) {
	var out []field
	for n := 1; len(hdr) > 0; n++ {
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
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d continues no field: %w", n, errHeaderSyntax)
			}
			out[len(out)-1].value += " " + strings.TrimSpace(string(line))
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			return nil, fmt.Errorf("line %d is not a header field: %w", n, errHeaderSyntax)
		}
		out = append(out, field{name: string(line[:colon]), value: strings.TrimSpace(string(line[colon+1:]))})
	}
	for i := range out {
		out[i].value = strings.TrimSpace(out[i].value)
	}
	return out, nil
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
	sender    []string // values of the Sender fields
	resent    []string // values of the Resent-From and Resent-Sender fields
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
		case "sender":
			h.sender = append(h.sender, f.value)
		case "resent-from", "resent-sender":
			h.resent = append(h.resent, f.value)
		case "date":
			h.date = true
		case "message-id":
			h.messageID = true
		}
	}
	return h
}

// maxFromLen bounds an address field value we parse (net/mail is not
// linear on every input).
const maxFromLen = 8 << 10

// addrParser parses address fields. Encoded words in display names are
// decoded (so that an address hidden in one is seen); unknown charsets are
// taken as they are.
func addrParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(charset string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
}

// parseMailboxes parses the value of an address field (a mailbox-list,
// RFC 5322 3.4); ok is false when it is empty, too long or not parsable.
func parseMailboxes(v string) (list []*mail.Address, ok bool) {
	if len(v) > maxFromLen {
		return nil, false
	}
	list, err := addrParser().ParseList(v)
	if err != nil || len(list) == 0 {
		return nil, false
	}
	return list, true
}

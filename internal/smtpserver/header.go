package smtpserver

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/kantorpos/kantorpos/internal/mailhdr"
)

// errHeaderSyntax: a line of the header section that is neither a header
// field nor the continuation of one. Other parsers read such a line in
// different ways (a "From :" field seen by one and not by another is a
// sender spoof), so the message is refused, on every port.
var errHeaderSyntax = reply(554, 5, 6, 0, "Invalid header field in message (RFC 5322 2.2)")

// parseFields splits a header section into fields (mailhdr.Parse); a line
// that is not a field refuses the message with errHeaderSyntax.
func parseFields(hdr []byte) ([]mailhdr.Field, error) {
	fs, err := mailhdr.Parse(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errHeaderSyntax)
	}
	return fs, nil
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

func inspectHeader(fields []mailhdr.Field) headerInfo {
	var h headerInfo
	for _, f := range fields {
		v := f.Value()
		switch strings.ToLower(f.Name) {
		case "received":
			h.received++
		case "from":
			h.from = append(h.from, v)
		case "sender":
			h.sender = append(h.sender, v)
		case "resent-from", "resent-sender":
			h.resent = append(h.resent, v)
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

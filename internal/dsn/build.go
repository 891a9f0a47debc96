package dsn

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"regexp"
	"strings"
)

var statusRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// maxDiagnostic bounds the remote's text we repeat (a reply may be up to
// 128 lines of 4096 octets; see the delivery package).
const maxDiagnostic = 2000

// Build renders a delivery status notification (RFC 3464) as a
// multipart/report; report-type=delivery-status message (RFC 6522) from
// MAILER-DAEMON@Hostname to p.To, with CRLF line ends:
//
//  1. text/plain: what happened, for whom, what the remote server said,
//     and for delays until when we keep trying;
//  2. message/delivery-status: the machine-readable fields;
//  3. the original: message/rfc822 for RET=FULL when it fits in
//     MaxOriginal, otherwise its header as text/rfc822-headers.
//
// When an address is non-ASCII the report uses the RFC 6533 types
// (message/global-delivery-status, message/global[-headers]) and must be
// sent with SMTPUTF8; when it contains 8-bit octets, with BODY=8BITMIME.
func Build(p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if p.MaxOriginal <= 0 {
		p.MaxOriginal = defaultMaxOriginal
	}
	if p.MaxHeader <= 0 {
		p.MaxHeader = defaultMaxHeader
	}
	if p.MessageID == "" {
		id, err := newMessageID(p.Hostname)
		if err != nil {
			return nil, err
		}
		p.MessageID = id
	}
	orig, err := readOriginal(p.Original, strings.EqualFold(p.RET, "FULL"), p.MaxOriginal, p.MaxHeader)
	if err != nil {
		return nil, err
	}
	global := !isASCII(p.To)
	for _, r := range p.Recipients {
		global = global || !isASCII(r.Final) || !isASCII(r.Original)
	}

	var parts [][]byte
	text, cte := humanText(p, orig), "7bit"
	if !isASCII(text) {
		// Quoted-printable keeps the report 7-bit unless the original is
		// 8-bit, so it travels to servers without 8BITMIME too.
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Write([]byte(text)) //nolint:errcheck // bytes.Buffer does not fail
		w.Close()             //nolint:errcheck
		text, cte = qp.String(), "quoted-printable"
		if !strings.HasSuffix(text, "\r\n") {
			text += "\r\n"
		}
	}
	parts = append(parts, []byte("Content-Description: Notification\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"Content-Transfer-Encoding: "+cte+"\r\n\r\n"+text))

	statusType := "message/delivery-status"
	if global {
		statusType = "message/global-delivery-status"
	}
	parts = append(parts, []byte("Content-Description: Delivery report\r\n"+
		"Content-Type: "+statusType+"\r\n\r\n"+statusFields(p, global)))

	if orig.data != nil {
		typ, desc := "text/rfc822-headers", "Message headers"
		switch {
		case orig.full && global:
			typ, desc = "message/global", "Message"
		case orig.full:
			typ, desc = "message/rfc822", "Message"
		case global:
			typ = "message/global-headers"
		}
		cte := "7bit"
		if orig.eightBit {
			cte = "8bit"
		}
		parts = append(parts, append([]byte("Content-Description: "+desc+"\r\n"+
			"Content-Type: "+typ+"\r\n"+
			"Content-Transfer-Encoding: "+cte+"\r\n\r\n"), orig.data...))
	}

	boundary := pickBoundary(p.MessageID, parts)
	var b strings.Builder
	field(&b, "From", "Mail Delivery System <MAILER-DAEMON@"+p.Hostname+">")
	field(&b, "To", "<"+clean(p.To, global)+">")
	field(&b, "Subject", subject(p.Recipients))
	field(&b, "Date", date(p.Date))
	field(&b, "Message-ID", p.MessageID)
	// RFC 3834 5: an automatic response; RFC 3464 does not require it but
	// it keeps vacation responders and the like from answering.
	field(&b, "Auto-Submitted", "auto-replied")
	field(&b, "MIME-Version", "1.0")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n")
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")
	out := []byte(b.String())
	for _, part := range parts {
		out = append(out, "\r\n--"+boundary+"\r\n"...)
		out = append(out, part...)
	}
	out = append(out, "\r\n--"+boundary+"--\r\n"...)
	return out, nil
}

func (p *Params) check() error {
	switch {
	case p.Hostname == "" || clean(p.Hostname, false) != p.Hostname || strings.ContainsAny(p.Hostname, " <>@"):
		return fmt.Errorf("dsn: bad Hostname %q", p.Hostname)
	case IsNullSender(p.To):
		return errors.New("dsn: no report is sent to the null sender")
	case p.Date.IsZero():
		return errors.New("dsn: Date is required")
	case len(p.Recipients) == 0:
		return errors.New("dsn: no recipients")
	case p.MessageID != "" && (!strings.HasPrefix(p.MessageID, "<") || !strings.HasSuffix(p.MessageID, ">") || clean(p.MessageID, false) != p.MessageID):
		return fmt.Errorf("dsn: bad MessageID %q", p.MessageID)
	}
	for _, r := range p.Recipients {
		switch r.Action {
		case Failed, Delayed, Delivered, Relayed, Expanded:
		default:
			return fmt.Errorf("dsn: recipient %q: bad action %q", r.Final, r.Action)
		}
		if r.Final == "" {
			return errors.New("dsn: recipient without Final address")
		}
		if !statusRE.MatchString(r.Status) {
			return fmt.Errorf("dsn: recipient %q: bad status %q", r.Final, r.Status)
		}
	}
	return nil
}

// statusFields renders the message/delivery-status body (RFC 3464 2.2,
// 2.3): the per-message fields, then one block per recipient, in the
// order of the RFC's grammar.
func statusFields(p Params, global bool) string {
	var b strings.Builder
	if p.EnvID != "" {
		field(&b, "Original-Envelope-Id", clean(p.EnvID, false))
	}
	field(&b, "Reporting-MTA", "dns; "+p.Hostname)
	if !p.Arrival.IsZero() {
		field(&b, "Arrival-Date", date(p.Arrival))
	}
	for _, r := range p.Recipients {
		b.WriteString("\r\n")
		if typ, addr, ok := strings.Cut(r.Original, ";"); ok && strings.TrimSpace(addr) != "" {
			field(&b, "Original-Recipient", clean(typ, false)+"; "+clean(addr, global))
		}
		field(&b, "Final-Recipient", addrType(r.Final)+"; "+clean(r.Final, global))
		field(&b, "Action", string(r.Action))
		field(&b, "Status", r.Status)
		if r.RemoteMTA != "" {
			field(&b, "Remote-MTA", "dns; "+clean(r.RemoteMTA, false))
		}
		if r.Diagnostic != "" {
			field(&b, "Diagnostic-Code", "smtp; "+truncate(clean(r.Diagnostic, global), maxDiagnostic))
		}
		if !r.LastAttempt.IsZero() {
			field(&b, "Last-Attempt-Date", date(r.LastAttempt))
		}
		if r.Action == Delayed && !r.WillRetryUntil.IsZero() {
			field(&b, "Will-Retry-Until", date(r.WillRetryUntil))
		}
	}
	return b.String()
}

// subject names the report after its gravest action.
func subject(rs []Recipient) string {
	var failed, delayed bool
	for _, r := range rs {
		failed = failed || r.Action == Failed
		delayed = delayed || r.Action == Delayed
	}
	switch {
	case failed:
		return "Undelivered Mail Returned to Sender"
	case delayed:
		return "Delayed Mail (still being retried)"
	}
	return "Successful Mail Delivery Report"
}

// pickBoundary derives a boundary from the Message-ID (so a report is
// reproducible) that occurs in none of the parts.
func pickBoundary(seed string, parts [][]byte) string {
	for i := 0; ; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", seed, i)))
		bnd := "=_dsn_" + hex.EncodeToString(sum[:12])
		clash := false
		for _, p := range parts {
			clash = clash || bytes.Contains(p, []byte(bnd))
		}
		if !clash {
			return bnd
		}
	}
}

func newMessageID(host string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("dsn: message id: %w", err)
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + host + ">", nil
}

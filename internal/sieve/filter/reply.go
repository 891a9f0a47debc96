package filter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/sieve"
	"github.com/kantorpos/kantorpos/internal/store"
)

// listFields mark mailing-list mail (RFC 2369, RFC 2919).
var listFields = []string{"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe",
	"List-Post", "List-Owner", "List-Archive"}

// noReply gives the reason a vacation reply must not be sent to the
// message's sender, or "" (RFC 3834 2, 3.1; RFC 5230 4.5, 4.6).
func noReply(d *store.Delivery, ld store.LocalDelivery, acc store.Account, msg *sieve.Message, v *sieve.Vacation) string {
	from := d.From
	if from == "" {
		return "null sender"
	}
	mine := append([]string{acc.Address, ld.Rcpt}, v.Addresses...)
	for _, a := range mine {
		if a != "" && strings.EqualFold(a, from) {
			return "own address"
		}
	}
	for _, a := range msg.Header("Auto-Submitted") {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(a, ";", 2)[0]), "no") {
			return "Auto-Submitted"
		}
	}
	for _, p := range msg.Header("Precedence") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return "Precedence " + p
		}
	}
	for _, f := range listFields {
		if len(msg.Header(f)) > 0 {
			return f
		}
	}
	// RFC 5230 4.6: senders that are programs, not people.
	local := strings.ToLower(from[:max(strings.LastIndexByte(from, '@'), 0)])
	if local == "mailer-daemon" || local == "listserv" || local == "majordomo" || local == "postmaster" ||
		strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") || local == "bounce" || strings.HasPrefix(local, "bounce-") || strings.HasPrefix(local, "bounce+") {
		return "automated sender"
	}
	// RFC 5230 4.5: only answer mail sent to the user, not Bcc'd lists.
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range msg.Header(h) {
			for _, addr := range headerAddresses(v) {
				for _, a := range mine {
					if a != "" && strings.EqualFold(addr, a) {
						return ""
					}
				}
			}
		}
	}
	return "recipient not in To or Cc"
}

func (f *Filter) vacationReply(d *store.Delivery, ld store.LocalDelivery, acc store.Account, msg *sieve.Message, v *sieve.Vacation) (reply, bool) {
	if why := noReply(d, ld, acc, msg, v); why != "" {
		f.log().Info("vacation not sent", "account", acc.Address, "to", d.From, "reason", why)
		return reply{}, false
	}
	subject := v.Subject
	if subject == "" {
		// RFC 5230 4.3: "Auto:" and the original subject.
		subject = "Auto: " + first(msg.Header("Subject"))
	}
	from := replyFrom(v.From, acc)
	var b strings.Builder
	f.writeHeader(&b, from, d.From, subject, msg)
	b.WriteString("Auto-Submitted: auto-replied (vacation)\r\n") // RFC 3834 5
	if v.Mime {
		// RFC 5230 4.8: the reason is a MIME entity, header included.
		b.WriteString(crlf(v.Reason))
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(crlf(v.Reason))
	}
	return reply{to: d.From, content: []byte(b.String()), accountID: acc.ID, handle: v.Handle, period: v.Period}, true
}

// replyFrom is the From of a vacation reply: :from when it is an address
// of the account's own domain (no forging other senders, RFC 5230 4.4
// lets us refuse), else the account's address.
func replyFrom(from string, acc store.Account) string {
	if from == "" {
		return acc.Address
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return acc.Address
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at < 0 || !strings.EqualFold(a.Address[at+1:], acc.Domain) {
		return acc.Address
	}
	return a.Address
}

// rejectReply builds the refusal of RFC 5429 2.1: an MDN (RFC 8098) with
// the reason, to the envelope sender, never to <>.
func (f *Filter) rejectReply(d *store.Delivery, ld store.LocalDelivery, acc store.Account, msg *sieve.Message, reason string) (reply, bool) {
	if d.From == "" {
		f.log().Info("reject: no refusal to the null sender", "account", acc.Address)
		return reply{}, false
	}
	var b strings.Builder
	boundary := "=_" + randomID()
	f.writeHeader(&b, "MAILER-DAEMON@"+f.Hostname, d.From, "Rejected: "+first(msg.Header("Subject")), msg)
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Your message to " + clean(ld.Rcpt) + " was refused:\r\n\r\n" + crlf(reason) + "\r\n")
	b.WriteString("--" + boundary + "\r\nContent-Type: message/disposition-notification\r\n\r\n")
	b.WriteString("Reporting-UA: " + f.Hostname + "; kantorpos\r\n")
	b.WriteString("Final-Recipient: rfc822; " + clean(ld.Rcpt) + "\r\n")
	if id := first(msg.Header("Message-ID")); id != "" {
		b.WriteString("Original-Message-ID: " + clean(id) + "\r\n")
	}
	b.WriteString("Disposition: automatic-action/MDN-sent-automatically; deleted\r\n")
	b.WriteString("--" + boundary + "--\r\n")
	return reply{to: d.From, content: []byte(b.String())}, true
}

// writeHeader writes the common header fields of a reply (RFC 3834 3.1).
func (f *Filter) writeHeader(b *strings.Builder, from, to, subject string, msg *sieve.Message) {
	b.WriteString("From: <" + clean(from) + ">\r\n")
	b.WriteString("To: <" + clean(to) + ">\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", clean(subject)) + "\r\n")
	b.WriteString("Date: " + f.now().Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: <" + randomID() + "@" + f.Hostname + ">\r\n")
	if id := clean(first(msg.Header("Message-ID"))); id != "" {
		b.WriteString("In-Reply-To: " + id + "\r\n")
		refs := clean(first(msg.Header("References")))
		b.WriteString("References: " + strings.TrimSpace(refs+" "+id) + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\n")
}

// send records a vacation reply (once per sender and period, across the
// cluster) and injects it with the null sender (RFC 3834 3.3).
func (f *Filter) send(ctx context.Context, r reply) {
	if r.handle != "" {
		ok, err := f.Store.VacationReply(ctx, r.accountID, r.handle, strings.ToLower(r.to), r.period)
		if err != nil {
			f.log().Warn("vacation", "err", err)
			return
		}
		if !ok {
			f.log().Info("vacation not sent", "account", r.accountID, "to", r.to, "reason", "already answered in this period")
			return
		}
	}
	if f.Replies == nil {
		return
	}
	if _, err := f.Replies.Inject(ctx, "", []string{r.to}, r.content); err != nil {
		f.log().Warn("sieve reply not sent", "to", r.to, "err", err)
		return
	}
	f.Events.AutoReply(f.log(), "account", r.accountID, "to", r.to, "vacation", r.handle != "")
}

// headerAddresses parses an address-list field; a field that does not
// parse gives the words that look like addresses.
func headerAddresses(v string) []string {
	if l, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, len(l))
		for i, a := range l {
			out[i] = a.Address
		}
		return out
	}
	var out []string
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t,;<>\"", r) }) {
		if strings.Contains(w, "@") {
			out = append(out, w)
		}
	}
	return out
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

// clean drops control characters from text bound for a header field.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// crlf normalises line ends to CRLF and ends the text with one.
func crlf(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

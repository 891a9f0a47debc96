// Package mailauth signs outgoing mail with DKIM and checks incoming mail
// with SPF, DKIM and DMARC, and tells administrators which DNS records to
// publish. It builds on go-msgauth (dkim, dmarc, authres) and
// blitiri.com.ar/go/spf; every DNS query goes through a dns.Resolver.
//
// # Inbound: port 25 (MX) only
//
// The SMTP server keeps HELO and MAIL FROM, spools DATA (bounded, CRLF),
// and after the final dot, before answering, calls
//
//	res, err := verifier.Verify(ctx, mailauth.ConnInfo{IP: ip, HELO: helo, MailFrom: from}, spool)
//
// with the reverse-path without brackets ("" for <>). Then:
//
//   - err wrapping ErrHeaderTooLong: 552 5.3.4; any other err (reading the
//     spool): 451 4.3.0.
//   - res.Reply() gives the answer: Reject → 550 5.7.1,
//     TempFail → 451 4.7.1 (a DMARC-relevant DNS lookup failed
//     temporarily; the sender retries), otherwise 250 after storing.
//   - Quarantine: deliver into the recipient's Junk folder; Accept: INBOX.
//   - Before storing, prepend res.AuthenticationResults (it is the complete
//     field with CRLF) above our Received field. When res.Forged > 0, the
//     message carries Authentication-Results fields claiming our hostname:
//     rewrite its header with StripForged(header, Hostname) first.
//
// Verify never fails on DNS trouble: it reports temperror results and, where
// DMARC cannot conclude, TempFail (see checkDMARC for the exact rule). An SPF
// fail alone does not reject: DMARC decides.
//
// CheckSPF can also be called on its own (after MAIL FROM) by a server that
// wants to reject early; Verify repeats it otherwise.
//
// # Outbound: submission (587/465) and queued mail of our domains
//
// After DATA is spooled, look up the keys of the From domain and call
//
//	hdrs, err := mailauth.Sign(ctx, spool, keys, now)
//
// then store hdrs followed by the unchanged spool file. With no key
// (ErrNoSigningKey) send unsigned and log it. Mail to port 25 from outside
// is never signed.
//
// # Keys and DNS
//
// GenerateKeys makes an ed25519 and an RSA-2048 key; Rotate replaces them
// (policy documented there); DNSRecord, Records and Format print the records
// to publish, and CheckRecords says which are missing or wrong.
package mailauth

import "strings"

// Reply returns the SMTP reply code, enhanced status code (RFC 3463) and
// text for a message that must not be accepted; ok is false for Accept and
// Quarantine, which are delivered (250). The text names the cause without
// echoing anything the client sent except the From domain.
func (r *Result) Reply() (code int, enhanced [3]int, text string, ok bool) {
	switch r.Action {
	case Reject:
		if r.DMARC.Domain == "" {
			return 550, [3]int{5, 7, 1}, "Message needs exactly one From field with a valid address (RFC 5322 3.6)", true
		}
		return 550, [3]int{5, 7, 1}, "Message rejected by the DMARC policy of " + strings.ToLower(r.DMARC.Domain), true
	case TempFail:
		return 451, [3]int{4, 7, 1}, "Temporary DNS failure checking sender authentication, try again later", true
	}
	return 250, [3]int{2, 0, 0}, "", false
}

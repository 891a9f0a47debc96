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
//     field with CRLF) above our Received field. Rewrite the message header
//     with StripForged(header, ours) first, where ours calls OursID with the
//     host name and every hosted domain: a sender must not supply a field
//     that claims to come from our host or any of our domains (res.Forged
//     counts those that claim the host name).
//
// Verify never fails on DNS trouble, and its DNS work is bounded by
// Verifier.Timeout. Temporary failures give temperror results; the action is
// TempFail only when no aligned SPF or DKIM check passed and either the DMARC
// policy lookup, or a check that could have produced an aligned pass, failed
// temporarily, and the policy is not known to be p=none. A DNS hiccup thus
// never becomes a reject or a quarantine, and a retry (451) decides later.
// An SPF fail alone does not reject: forwarding breaks SPF, DMARC decides.
// A message with zero or several From fields, or a From without a usable
// domain, is rejected (RFC 7489 6.6.1, RFC 5322 3.6).
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
// (ErrNoSigningKey) send unsigned and log it. Mail that other servers
// deliver to port 25 is never signed.
//
// # Keys and DNS
//
// GenerateKeys makes an ed25519 and an RSA-2048 key; Rotate replaces them
// (policy documented there); DNSRecord, Records and Format print the records
// to publish, and CheckRecords says which are missing or wrong.
package mailauth

package smtpserver

// Decisions, in one place (each is also next to its code):
//
// Replies
//   - Relay refused (MX, or any unauthenticated session): 554 5.7.1, also for
//     relay syntax in a recipient ("%", "!", several "@", address literals).
//     `<"v@ext.test">` is refused by go-smtp's path parser with 501 5.5.2
//     before our code runs; `<@ours:v@ext>` has its source route dropped by
//     go-smtp and is then refused as v@ext.
//   - Unknown user 550 5.1.1 at RCPT (never accept-then-bounce: no
//     backscatter); disabled account 550 5.2.1; alias loop or expansion
//     deeper than 10: 550 5.4.6 (RFC 5321 4.3.2 lists 550, not 554, for RCPT).
//   - Too many Received fields (> MaxReceived, default 50): 554 5.4.6.
//   - Bare CR or LF in the content: 554 5.6.0, then the connection is closed.
//     A NUL in the content: 554 5.6.0 (RFC 2045 2.8; BINARYMIME is not
//     offered), the session goes on.
//   - Disk full: 452 4.3.1 at MAIL (CheckSpace with the SIZE parameter) or
//     after DATA; store.ErrUnavailable and other store errors: 451 4.3.0.
//   - After MaxBadRecipients refused recipients or MaxAuthFailures failed
//     AUTHs in a connection: 421 4.7.0 and close. VRFY 252, EXPN 502 (go-smtp).
//
// Quota: checked at RCPT against the account's usage plus the SIZE
// parameter: a recipient whose every local account is full gets 552 5.2.2;
// full members of a group alias are left out (and logged) so the others get
// the message. The store files what was accepted (sqlstore does not refuse on
// quota); a store ErrQuotaExceeded at DATA fails the message with 552 5.2.2.
//
// Submission sender policy: the envelope sender and every From address must
// be the account's address (any plus-tag) or an alias that resolves to the
// account; a catch-all or the postmaster fallback does not count. The null
// sender is allowed (RFC 8098 wants it for MDNs). A message without exactly
// one From field with parsable addresses, or with several Sender fields,
// gets 550 5.6.0. Sender, Resent-From and Resent-Sender addresses, and any
// address written in a display name of these fields or of From, must be
// owned the same way: else 553 5.7.1 (author.go). Missing Date and
// Message-ID are added (RFC 6409 8).
//
// Header syntax, every port: a line of the header section that is not a
// field (a space before the colon, no colon, a continuation of nothing)
// gets 554 5.6.0; the obsolete syntax of RFC 5322 4.5 is not accepted, so
// that every reader of the stored message sees the same fields (header.go).
//
// Intake (stage.go, deliver.go): the header section is read and checked
// first; then the message is streamed once into an uncommitted blob while
// the metadata parser, the inbound check (MX) and the DKIM signer
// (submission with remote recipients) read the same bytes. Only then is it
// accepted, the blob committed (fsync, link, directory fsync) and the store
// transaction run before the 250; a refused message is discarded and
// leaves nothing on disk.
//
// Addresses: go-smtp removes the quotes of a quoted local part before we
// see the path, so only local parts that are dot-atoms once unquoted are
// accepted ("a.b"@x is a.b@x, RFC 5322 3.4.1); one that needs quoting gets
// 553 rather than being recorded as another address (parsePath).
// "RCPT TO:<Postmaster>" without a domain (RFC 5321 4.5.1) goes to
// postmaster@ our primary domain (router.ResolvePostmaster).
//
// What go-smtp v0.26.0 does that we rely on or work around:
//   - only <CRLF>.<CRLF> ends DATA, but ".\r" followed by anything other
//     than LF is dropped silently: "\r\n.\rX" reaches us as "\r\nX". On a
//     plaintext connection the guard (guard.go) sees the raw bytes, and the
//     message is refused as a bare CR (554 5.6.0, closed; TestSmuggling,
//     hostile TestDotBareCRLine). After STARTTLS and on implicit TLS only
//     go-smtp sees them: such a message is still stored without the ".\r"
//     (never a second message). Fixing that needs go-smtp's dataReader to
//     keep or refuse the CR (still so in v0.26.0).
//   - plaintext pipelined after STARTTLS is discarded (TestSTARTTLSInjection).
//   - ReadTimeout applies per command line; we extend the deadline while
//     content flows (DataTimeout) and clamp every deadline to the session
//     deadline (conn.go).
//   - a base64 error inside AUTH gets 454 4.7.0 from go-smtp (RFC 4954 asks
//     for 501).
//   - MAIL ... SIZE= with more than 10 digits (above 2^32-1) gets 501 5.5.4
//     from go-smtp's parser before our code runs; RFC 1870 allows 20 digits
//     and asks for 552 5.3.4 above our limit. Either way it is a permanent
//     refusal; the reply code needs a change in go-smtp.
//
// Cross-protocol: a plaintext command line starting with an HTTP verb
// closes the connection with 421 (guard.go); over TLS, ALPN "smtp" makes a
// client that offers only http/1.1 fail the handshake.

// Package imapwire is the IMAP wire format of kantorpos: a streaming
// command parser and a response writer (RFC 9051 §4, §7, §9; RFC 3501 for
// IMAP4rev1; RFC 7888 LITERAL+/LITERAL-; RFC 3516 literal8).
//
// The parser (Reader) reads one command at a time from a bounded reader.
// Arguments are pulled by the command's handler, so a synchronising
// literal ({n}) gets its "+" continuation only when the handler reaches it
// and the command is still acceptable (known, legal in the state, within
// the limits). A refused command is finished with Reader.Discard, which
// reads and drops the octets the client sends without waiting:
// non-synchronising literals ({n+}, {n-}) and the lines after them. Either
// the next command then starts where the client thinks it does, or the
// reader reports ErrFatal and the connection must be closed. That rule is
// what keeps a refused APPEND's message from running as commands.
//
// Limits (Limits): line length (64 KiB by default; an over-long line is
// dropped and answered BAD), ordinary literal size, total command size,
// list nesting, and how much a refusal may discard before closing.
//
// The writer (Writer) formats untagged, continuation and tagged responses,
// quoted strings or literals as the content requires, NIL, and literals
// streamed from an io.Reader. A plain literal never carries NUL; literal8
// is for BINARY.
//
// Not done yet: COMPRESS=DEFLATE framing, a pooled large read buffer for
// busy connections (the caller's bufio.Reader is used as it is), and
// UTF8=ACCEPT's utf8 literal syntax (UTF8 (~{n})).
package imapwire

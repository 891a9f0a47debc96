// Package imapserver is the IMAP server of kantorpos (IMAP4rev1 and
// IMAP4rev2, RFC 3501 and RFC 9051), our own engine over the narrow
// Backend interface (backend.go), so the store never sees the protocol.
//
// Layers, top to bottom:
//   - server.go: listeners, per-address and per-account limits, shutdown.
//   - session.go: one goroutine per connection runs the state machine of
//     RFC 9051 §3 (not authenticated, authenticated, selected, logout): it
//     reads a command with imapwire (the wire format, its own package),
//     looks it up in the dispatch table of commands.go (state → command →
//     handler) and writes the tagged reply, preceded by the mailbox updates
//     the command allows (no EXPUNGE after FETCH, STORE or SEARCH by
//     sequence numbers, RFC 9051 §7.5.1).
//   - one file per command or family: login.go (LOGIN, AUTHENTICATE),
//     select.go (SELECT, EXAMINE, CLOSE, UNSELECT), mailboxes.go (CREATE,
//     DELETE, RENAME, SUBSCRIBE), list.go (LIST, LSUB), status.go,
//     append.go, idle.go, fetch.go (+ section.go for body parts,
//     envelope.go for ENVELOPE and BODYSTRUCTURE), store.go, copy.go
//     (COPY, MOVE), expunge.go, search.go, commands.go (CAPABILITY, NOOP,
//     LOGOUT, STARTTLS, ENABLE, NAMESPACE), id.go (ID), quota.go
//     (GETQUOTA, GETQUOTAROOT, SETQUOTA).
//   - hub.go, view.go and recent.go: every session with a mailbox selected has a view
//     (the UIDs its client knows, in sequence order, and the updates not
//     yet sent) fed by one shared state per mailbox; one store subscription
//     feeds them all: a change by anyone (SMTP delivery, POP3, another IMAP
//     session, another process) reaches every session as EXISTS, EXPUNGE or
//     FETCH FLAGS at its next command, and at once in IDLE.
//
// Capabilities: IMAP4rev1, IMAP4rev2, STARTTLS/LOGINDISABLED, AUTH=PLAIN
// and AUTH=LOGIN with SASL-IR, LITERAL+, ID, ENABLE, IDLE, NAMESPACE,
// UIDPLUS, ESEARCH, SEARCHRES, LIST-EXTENDED, LIST-STATUS, MOVE,
// STATUS=SIZE, BINARY, CHILDREN, SPECIAL-USE, CREATE-SPECIAL-USE,
// UNSELECT, UTF8=ACCEPT, APPENDLIMIT, QUOTA and QUOTA=RES-STORAGE.
//
// The refusal discipline (imapwire): a command is checked as far as its
// arguments go before a synchronising literal gets "+", and a refused
// command's non-synchronising literals are read and dropped (or the
// connection closed), so that a refused APPEND's message never runs as
// commands.
//
// Done of issue 17 item 3: new keywords are announced in FLAGS before a
// FETCH carries them (announceKeywords), MOVE/COPY into the selected
// mailbox itself, LSUB's \Noselect parents and \NonExistent without
// \Noselect for a deleted subscribed mailbox, CHILDINFO as RFC 5258 §3.5
// and §4.5 have it (RECURSIVEMATCH only, for a subscribed descendant that
// is not listed itself), LIST patterns that are not valid modified UTF-7
// matched literally against the encoded names. Item 4 is done for a single
// node: a selected session asks the store for changes only when the broker
// reported one (the hub's hook on the subscription runs inside Publish, so
// a committed change is noted before its writer returns); on PostgreSQL
// (cluster mode) sessions still ask after every command, since another
// node's notification may come after the client's next command.
//
// Binary content APPENDed as literal8 is stored with its NUL-carrying parts
// base64-encoded (binary.go, RFC 3516 §4.3).
//
// \Recent (recent.go): exactly one session sees a new message as recent;
// the claims are kept in the hub, in memory (one set per node).
//
// Not done yet (issue 17): pipelining (item 2:
// commands run one at a time, in order), CONDSTORE/QRESYNC, COMPRESS,
// MULTIAPPEND; of item 3 substring SEARCH (SENT*, address search with
// comments, ENVELOPE groups, INTERNALDATE 1970/9999, \Recent, CHILDINFO and
// binary re-encoding are done);
// item 5 (the mixed-workload benchmark) and item 6's neomutt and doveadm
// clients. A view's pending updates are not bounded: a client that sends
// nothing (and is not in IDLE) while its mailbox changes a lot collects
// them until auto-logout.
package imapserver

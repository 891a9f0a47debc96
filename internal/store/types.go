// Package store holds the domain types of kantorpos and the interfaces that
// protocol code uses to reach them. It knows nothing about SQL: the
// implementation lives in store/sqlstore (SQLite and PostgreSQL) and is wired
// in by cmd/kantorpos.
package store

import (
	"time"
)

// Domain is a mail domain we accept mail for.
type Domain struct {
	Name    string // lower-case ASCII (A-labels)
	Created time.Time
}

// Account is a user with a mailbox hierarchy.
type Account struct {
	ID           int64
	Address      string // canonical lower-case address, local@domain
	Domain       string
	PasswordHash string
	Disabled     bool
	QuotaBytes   int64 // 0 = unlimited
	UsedBytes    int64 // sum of message sizes in all mailboxes
	// Admin accounts may use the admin web page and API.
	Admin   bool
	Created time.Time
}

// Alias maps an address (or "@domain" for a catch-all) to a target address,
// local or remote. One Alias value is one (address, target) pair.
type Alias struct {
	Address string // "local@domain" or "@domain"
	Target  string
}

// Special-use attributes (RFC 6154).
const (
	SpecialAll     = `\All`
	SpecialArchive = `\Archive`
	SpecialDrafts  = `\Drafts`
	SpecialFlagged = `\Flagged`
	SpecialJunk    = `\Junk`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
)

// Inbox is the name of the one mailbox every account has.
const Inbox = "INBOX"

// DefaultMailboxes are created with every account.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{Inbox, ""},
	{"Sent", SpecialSent},
	{"Drafts", SpecialDrafts},
	{"Trash", SpecialTrash},
	{"Junk", SpecialJunk},
	{"Archive", SpecialArchive},
}

// HierarchySep separates mailbox name components.
const HierarchySep = '/'

// Mailbox is a folder of an account.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string // UTF-8, components separated by HierarchySep
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	SpecialUse    string // one of the Special* constants or ""
	Subscribed    bool
}

// MailboxStatus is the counters of a mailbox.
type MailboxStatus struct {
	Mailbox
	Messages uint32
	Unseen   uint32
	Deleted  uint32
	Size     int64
}

// System flags (RFC 9051 2.3.2). Keywords are any other atom.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// BlobRef names a message body in the blob store.
type BlobRef struct {
	Hash string // hex SHA-256 of the content
	Size int64
}

// MessageMeta is what we learn from parsing a message once, at delivery or
// APPEND, so that IMAP never re-parses it for ENVELOPE, BODYSTRUCTURE or
// SEARCH. It depends only on the content, so it is kept once per blob.
type MessageMeta struct {
	Subject   string
	From      string // header values, decoded (RFC 2047), for SEARCH
	To        string
	Cc        string
	Bcc       string
	MessageID string
	// Date is the date and time of the Date header as written, in its own
	// time zone but labelled UTC (for SENT*, RFC 9051 §6.4.4); zero if
	// absent or unparsable.
	Date time.Time
	// Header is the raw header section (bounded), for SEARCH HEADER.
	Header string
	// Text is the searchable text of the body (bounded), for the full-text index.
	Text string
	// Envelope and BodyStructure are opaque caches owned by the IMAP server.
	Envelope      []byte
	BodyStructure []byte
}

// Message is one message in one mailbox.
type Message struct {
	ID           int64
	MailboxID    int64
	UID          uint32
	ModSeq       uint64
	Flags        []string // system flags and keywords
	InternalDate time.Time
	// Size counts Prefix plus the blob: what a client downloads.
	Size int64
	Blob BlobRef
	// Prefix holds the header fields that differ per recipient
	// (Return-Path, Delivered-To), prepended to the blob when read.
	Prefix []byte
	// Meta is filled only when asked for (FetchOptions.Meta).
	Meta *MessageMeta
}

// NewMessage is a message to add to a mailbox (APPEND, import, copy of a
// delivery).
type NewMessage struct {
	Blob         BlobRef
	Meta         *MessageMeta
	Prefix       []byte
	Flags        []string
	InternalDate time.Time
}

// MessageState is the mutable part of a message, for synchronisation.
type MessageState struct {
	UID    uint32
	ModSeq uint64
	Flags  []string
}

// UIDPair maps a source UID to the UID of its copy (COPYUID, MOVE).
type UIDPair struct {
	Src, Dst uint32
}

// UIDRange is an inclusive range of UIDs.
type UIDRange struct {
	Start, Stop uint32
}

// UIDSet is a set of UIDs as ranges. An empty set matches nothing.
type UIDSet []UIDRange

// Contains reports whether uid is in the set.
func (s UIDSet) Contains(uid uint32) bool {
	for _, r := range s {
		if uid >= r.Start && uid <= r.Stop {
			return true
		}
	}
	return false
}

// Bounds returns the smallest and largest UID the set can contain.
func (s UIDSet) Bounds() (lo, hi uint32) {
	if len(s) == 0 {
		return 0, 0
	}
	lo, hi = s[0].Start, s[0].Stop
	for _, r := range s[1:] {
		lo = min(lo, r.Start)
		hi = max(hi, r.Stop)
	}
	return lo, hi
}

// AllUIDs is the set 1:*.
var AllUIDs = UIDSet{{1, ^uint32(0)}}

// FlagOp says how UpdateFlags combines flags.
type FlagOp int

// Flag operations (IMAP STORE FLAGS, +FLAGS, -FLAGS).
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// MailboxChanges is what happened in a mailbox after a MODSEQ.
type MailboxChanges struct {
	HighestModSeq uint64
	UIDNext       uint32
	// Updated holds messages added or whose flags changed, in UID order.
	Updated []MessageState
	// Expunged holds UIDs removed, in UID order.
	Expunged []uint32
}

// DKIMKey is a DKIM signing key of a domain.
type DKIMKey struct {
	Domain        string
	Selector      string
	Algorithm     string // "ed25519" or "rsa"
	PrivateKeyPEM []byte
	Created       time.Time
	Retired       *time.Time // set when rotated out; still published for a while
}

// APIToken is a credential for the admin API. Only the hash of its secret
// is stored; the secret is shown once, when it is made.
type APIToken struct {
	ID      int64
	Name    string
	Hash    string // hex SHA-256 of the secret
	Created time.Time
}

// AccountSettings are what users set on their own page. Forwarding and the
// away message are stored here; a filtering feature acts on them.
type AccountSettings struct {
	ForwardTo   string // "" = no forwarding
	ForwardKeep bool   // keep a copy when forwarding
	AwayEnabled bool
	AwaySubject string
	AwayBody    string
	Updated     time.Time
}

// QueueStats are figures of the whole queue.
type QueueStats struct {
	Entries  int // queue entries (one per message and destination domain)
	Deferred int // entries that failed at least one attempt
	Oldest   time.Time
}

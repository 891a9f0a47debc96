package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors every implementation returns (wrapped) so callers can map them to
// protocol replies with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrExists        = errors.New("already exists")
	ErrNotEmpty      = errors.New("not empty")
	ErrInvalidName   = errors.New("invalid name")
	ErrQuotaExceeded = errors.New("quota exceeded")
	ErrLocked        = errors.New("locked by another session")
	ErrLeaseLost     = errors.New("queue lease lost")
	// ErrUnavailable wraps failures that are temporary (database down,
	// disk full): SMTP answers 451/452, IMAP NO [UNAVAILABLE].
	ErrUnavailable = errors.New("storage temporarily unavailable")
)

// Store is everything kantorpos keeps. Protocol packages should not take a
// Store: they declare the narrow interface they need (a few of the methods
// below) and the wiring passes the Store.
type Store interface {
	Directory
	Mailboxes
	Messages
	Deliverer
	Queue
	DKIMKeys
	Admin
	Sieve
	Changes
	// Close releases the database; pending group commits finish first.
	Close() error
}

// Directory holds domains, accounts and aliases. Addresses are compared
// case-insensitively (callers pass mailaddr.Address.Key() forms).
type Directory interface {
	AddDomain(ctx context.Context, name string) error
	// DeleteDomain fails with ErrNotEmpty while accounts or aliases exist.
	DeleteDomain(ctx context.Context, name string) error
	Domains(ctx context.Context) ([]Domain, error)
	HasDomain(ctx context.Context, name string) (bool, error)

	// CreateAccount creates the account with DefaultMailboxes. The domain
	// must exist (ErrNotFound otherwise); a taken address gives ErrExists.
	CreateAccount(ctx context.Context, address, passwordHash string) (Account, error)
	// DeleteAccount removes the account, its mailboxes and messages.
	DeleteAccount(ctx context.Context, address string) error
	Account(ctx context.Context, address string) (Account, error)
	AccountByID(ctx context.Context, id int64) (Account, error)
	// Accounts lists the accounts of domain, or all accounts when domain is "".
	Accounts(ctx context.Context, domain string) ([]Account, error)
	SetPasswordHash(ctx context.Context, accountID int64, hash string) error
	UpdateAccount(ctx context.Context, accountID int64, u AccountUpdate) error

	// AddAlias adds one (address, target) pair; the address's domain must be ours.
	AddAlias(ctx context.Context, a Alias) error
	// DeleteAlias removes one pair, or every target of address when target is "".
	DeleteAlias(ctx context.Context, address, target string) error
	Aliases(ctx context.Context, domain string) ([]Alias, error)
	// AliasTargets returns the targets of exactly address ("local@domain"
	// or "@domain"); nil when it is not an alias.
	AliasTargets(ctx context.Context, address string) ([]string, error)
}

// AccountUpdate changes the fields that are not nil.
type AccountUpdate struct {
	Disabled   *bool
	QuotaBytes *int64
	Admin      *bool
}

// Mailboxes is the folder hierarchy of accounts.
type Mailboxes interface {
	// Mailboxes lists an account's mailboxes in name order.
	Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	// Mailbox finds a mailbox by name; "INBOX" is case-insensitive.
	Mailbox(ctx context.Context, accountID int64, name string) (Mailbox, error)
	MailboxByID(ctx context.Context, id int64) (Mailbox, error)
	// CreateMailbox validates the name (ValidMailboxName) and creates it
	// with a fresh UIDVALIDITY. Missing parents are not created.
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error)
	// DeleteMailbox removes a mailbox and its messages (not its children).
	// INBOX cannot be deleted.
	DeleteMailbox(ctx context.Context, accountID int64, name string) error
	// RenameMailbox renames a mailbox and its children. Renaming INBOX
	// moves its messages into a new mailbox and leaves INBOX empty (RFC 9051 6.3.6).
	RenameMailbox(ctx context.Context, accountID int64, from, to string) error
	SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error
	// Subscriptions lists subscribed names, including names of mailboxes
	// that no longer exist.
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	MailboxStatus(ctx context.Context, mailboxID int64) (MailboxStatus, error)
}

// FetchOptions says what FetchMessages loads besides the message rows.
type FetchOptions struct {
	Meta bool // load MessageMeta (ENVELOPE, BODYSTRUCTURE, header fields)
}

// Messages is the content of mailboxes.
type Messages interface {
	// MessageStates returns every message of a mailbox in UID order.
	MessageStates(ctx context.Context, mailboxID int64) ([]MessageState, error)
	// FetchMessages returns the messages whose UIDs are in uids, in UID order.
	FetchMessages(ctx context.Context, mailboxID int64, uids UIDSet, opts FetchOptions) ([]Message, error)
	// OpenMessage returns the full content (Prefix + blob) of a message.
	OpenMessage(ctx context.Context, m *Message) (Content, error)
	// Changes returns what changed in a mailbox after sinceModSeq.
	Changes(ctx context.Context, mailboxID int64, sinceModSeq uint64) (MailboxChanges, error)

	// Append adds a message durably (the caller wrote the blob) and returns its UID.
	// It fails with ErrQuotaExceeded when the account is over quota.
	Append(ctx context.Context, mailboxID int64, m NewMessage) (Appended, error)
	// UpdateFlags changes flags and returns the new state of every message
	// whose flags changed.
	UpdateFlags(ctx context.Context, mailboxID int64, uids UIDSet, op FlagOp, flags []string) ([]MessageState, error)
	// Expunge removes messages flagged \Deleted (only those in uids when
	// uids is not nil) and returns their UIDs.
	Expunge(ctx context.Context, mailboxID int64, uids UIDSet) ([]uint32, error)
	// DeleteMessages removes the listed messages whatever their flags (POP3).
	DeleteMessages(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error)
	// Copy copies messages to another mailbox of the same account.
	Copy(ctx context.Context, srcMailboxID int64, uids UIDSet, dstMailboxID int64) ([]UIDPair, error)
	// Move moves messages atomically: they are never in both mailboxes.
	Move(ctx context.Context, srcMailboxID int64, uids UIDSet, dstMailboxID int64) ([]UIDPair, error)
	// Search returns the UIDs matching c, in UID order.
	Search(ctx context.Context, mailboxID int64, c *SearchCriteria) ([]uint32, error)
	// SetMeta replaces the cached metadata of a blob (re-parse, upgrades).
	SetMeta(ctx context.Context, blobHash string, meta *MessageMeta) error
	// LockMaildrop gives one POP3 session exclusive use of an account's
	// INBOX (RFC 1939); ErrLocked when another session holds it.
	LockMaildrop(ctx context.Context, accountID int64) (release func(), err error)
}

// Content is a message's bytes, readable sequentially or at offsets.
type Content interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Size() int64
}

// Deliverer files an accepted message.
type Deliverer interface {
	// Deliver files the blob into local mailboxes and queues it for remote
	// recipients in one transaction. When it returns nil, the message is
	// durable (the SMTP server may answer 250).
	Deliver(ctx context.Context, d *Delivery) (DeliveryResult, error)
}

// QueueFilter selects queue entries for listing.
type QueueFilter struct {
	Domain string // "" = any
	Limit  int    // 0 = no limit
}

// Queue is the durable outbound queue.
type Queue interface {
	// LeaseQueue takes up to limit entries due at now that no one holds
	// (or whose lease expired), and leases them to owner until now+leaseFor.
	LeaseQueue(ctx context.Context, now time.Time, owner string, leaseFor time.Duration, limit int) ([]QueueEntry, error)
	// RecordAttempt stores the outcome of an attempt and releases the lease.
	// When no recipient is pending any more the entry is removed (after the
	// caller has generated any DSN). ErrLeaseLost if owner no longer holds it.
	RecordAttempt(ctx context.Context, id int64, owner string, r AttemptResult) (pending int, err error)
	QueueEntries(ctx context.Context, f QueueFilter) ([]QueueEntry, error)
	QueueEntry(ctx context.Context, id int64) (QueueEntry, error)
	// RetryQueue makes an entry (or all entries when id is 0) due at at.
	RetryQueue(ctx context.Context, id int64, at time.Time) (int, error)
	DeleteQueue(ctx context.Context, id int64) error
	// NextQueueAttempt returns the earliest NextAttempt of unleased entries.
	NextQueueAttempt(ctx context.Context) (t time.Time, ok bool, err error)
	// LeaseEntry leases one entry whether due or not (administrator
	// actions); ErrLocked when another owner holds an unexpired lease.
	LeaseEntry(ctx context.Context, id int64, now time.Time, owner string, leaseFor time.Duration) (QueueEntry, error)
	// ReleaseLeases frees the leases owner holds: a node that restarts
	// after a crash takes its own unfinished work back at once.
	ReleaseLeases(ctx context.Context, owner string) (int, error)
}

// DKIMKeys stores the DKIM keys of our domains.
type DKIMKeys interface {
	DKIMKeys(ctx context.Context, domain string) ([]DKIMKey, error)
	AddDKIMKey(ctx context.Context, k DKIMKey) error
	RetireDKIMKey(ctx context.Context, domain, selector string, at time.Time) error
	DeleteDKIMKey(ctx context.Context, domain, selector string) error
}

// Admin is what the administration keeps besides the directory: API tokens,
// the settings users change on their own page, and queue figures.
type Admin interface {
	// AddAPIToken stores a token by the hash of its secret; a taken name
	// gives ErrExists.
	AddAPIToken(ctx context.Context, name, hash string) (APIToken, error)
	APITokens(ctx context.Context) ([]APIToken, error)
	// APITokenByHash finds a token by the hash of its secret (ErrNotFound).
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
	DeleteAPIToken(ctx context.Context, name string) error

	// AccountSettings returns an account's settings (the zero value, with
	// ForwardKeep set, when it never changed them; ErrNotFound for an
	// unknown account).
	AccountSettings(ctx context.Context, accountID int64) (AccountSettings, error)
	SetAccountSettings(ctx context.Context, accountID int64, s AccountSettings) error

	// QueueStats counts the queue in one cheap query (metrics, status).
	QueueStats(ctx context.Context) (QueueStats, error)
}

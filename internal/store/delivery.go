package store

import "time"

// Delivery is one accepted message: a blob already durable in the blob store,
// filed into local mailboxes and queued for remote recipients in ONE store
// transaction (DESIGN.md "How a message flows").
type Delivery struct {
	Blob       BlobRef
	Meta       *MessageMeta
	ReceivedAt time.Time
	// From is the envelope sender ("" = <>), for filters (Sieve's envelope).
	From   string
	Local  []LocalDelivery
	Remote *Outbound // nil when there are no remote recipients
}

// LocalDelivery files the message for one local recipient.
type LocalDelivery struct {
	AccountID int64
	// Mailbox is the folder name; "" means INBOX. A name that does not exist
	// falls back to INBOX. SpecialUse, when set, picks the account's folder
	// with that attribute (e.g. \Junk) and overrides Mailbox.
	Mailbox    string
	SpecialUse string
	Prefix     []byte // Return-Path, Delivered-To
	Flags      []string
	// Rcpt is the address that reached the account (plus-tag included),
	// for filters; "" when unknown.
	Rcpt string
}

// Outbound is the remote part of a delivery, queued per destination domain.
type Outbound struct {
	From     string // envelope sender; "" is the null sender <>
	Rcpts    []OutRcpt
	RET      string // DSN RET: "FULL", "HDRS" or ""
	EnvID    string // DSN ENVID (xtext-decoded)
	SMTPUTF8 bool
	Body8Bit bool
	// Prefix is prepended to the blob when sent (e.g. DKIM-Signature).
	Prefix []byte
	// AccountID is the submitting account (0 for relayed or system mail).
	AccountID int64
	// MsgID names the message in the logs (the SMTP transaction id):
	// every queue event logs it.
	MsgID string
}

// OutRcpt is one remote recipient with its DSN parameters (RFC 3461).
type OutRcpt struct {
	Addr   string
	ORCPT  string // "rfc822;addr" or ""
	Notify string // "NEVER" or a comma list of SUCCESS, FAILURE, DELAY; "" = default
}

// DeliveryResult says where a delivery went.
type DeliveryResult struct {
	Local    []Appended
	QueueIDs []int64
}

// Appended is a message filed into a mailbox.
type Appended struct {
	AccountID int64
	MailboxID int64
	UID       uint32
}

// QueueEntry is a message waiting for delivery to one destination domain.
type QueueEntry struct {
	ID          int64
	Domain      string
	Blob        BlobRef
	Prefix      []byte
	From        string
	RET         string
	EnvID       string
	SMTPUTF8    bool
	Body8Bit    bool
	AccountID   int64
	MsgID       string // Outbound.MsgID
	MessageID   string // the Message-ID field, from the blob's metadata
	Created     time.Time
	NextAttempt time.Time
	LastAttempt time.Time
	Attempts    int
	LastError   string
	// DelayNotified is set once a delay DSN has been sent.
	DelayNotified bool
	LeaseOwner    string
	LeaseUntil    time.Time
	Rcpts         []QueueRcpt
}

// Recipient states in the queue.
const (
	RcptPending   = "pending"
	RcptDelivered = "delivered"
	RcptFailed    = "failed"
)

// QueueRcpt is one recipient of a queue entry.
type QueueRcpt struct {
	ID        int64
	Addr      string
	ORCPT     string
	Notify    string
	Status    string // RcptPending, RcptDelivered, RcptFailed
	LastCode  int
	LastError string
}

// AttemptResult records the outcome of one delivery attempt of an entry.
type AttemptResult struct {
	At time.Time
	// Rcpts maps QueueRcpt.ID to its new state. Recipients left pending keep
	// the entry alive until NextAttempt.
	Rcpts       map[int64]RcptUpdate
	NextAttempt time.Time
	LastError   string
	// DelayNotified marks that a delay DSN has been sent.
	DelayNotified bool
}

// RcptUpdate is the new state of one queue recipient.
type RcptUpdate struct {
	Status string
	Code   int
	Error  string
}

// Package imapserver is the IMAP server of kantorpos (IMAP4rev1 and
// IMAP4rev2, RFC 3501 and RFC 9051). The wire protocol is
// github.com/emersion/go-imap/v2/imapserver; this package implements its
// Session over our store, behind the narrow Backend interface below, so the
// wire layer could be replaced without touching the store.
//
// Every session that has a mailbox selected shares one in-memory view of it
// (its UID list and a go-imap MailboxTracker) with the other sessions on the
// same mailbox. One store subscription feeds all views: a change made by
// anyone (SMTP delivery, POP3, another IMAP session, another process)
// reaches every session as EXISTS, EXPUNGE or FETCH FLAGS at its next
// command, and at once in IDLE.
package imapserver

import (
	"context"
	"net/netip"

	"github.com/emersion/go-sasl"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Backend is what IMAP sessions need from the store; store.Store satisfies it.
type Backend interface {
	store.Mailboxes
	store.Changes

	MessageStates(ctx context.Context, mailboxID int64) ([]store.MessageState, error)
	FetchMessages(ctx context.Context, mailboxID int64, uids store.UIDSet, opts store.FetchOptions) ([]store.Message, error)
	OpenMessage(ctx context.Context, m *store.Message) (store.Content, error)
	Changes(ctx context.Context, mailboxID int64, sinceModSeq uint64) (store.MailboxChanges, error)
	Append(ctx context.Context, mailboxID int64, m store.NewMessage) (store.Appended, error)
	UpdateFlags(ctx context.Context, mailboxID int64, uids store.UIDSet, op store.FlagOp, flags []string) ([]store.MessageState, error)
	Expunge(ctx context.Context, mailboxID int64, uids store.UIDSet) ([]uint32, error)
	Copy(ctx context.Context, srcMailboxID int64, uids store.UIDSet, dstMailboxID int64) ([]store.UIDPair, error)
	Move(ctx context.Context, srcMailboxID int64, uids store.UIDSet, dstMailboxID int64) ([]store.UIDPair, error)
	Search(ctx context.Context, mailboxID int64, c *store.SearchCriteria) ([]uint32, error)
	SetMeta(ctx context.Context, blobHash string, meta *store.MessageMeta) error
}

// Authenticator checks logins; *auth.Service satisfies it.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string, ip netip.Addr, proto string) (auth.Identity, error)
	SASL(ctx context.Context, mech string, ip netip.Addr, proto string, done func(auth.Identity)) (sasl.Server, bool)
}

// BlobStore receives APPENDed message bodies; blob.Store satisfies it.
type BlobStore interface {
	Create(ctx context.Context) (blob.Writer, error)
	CheckSpace(need int64) error
}

var (
	_ Backend       = store.Store(nil)
	_ Authenticator = (*auth.Service)(nil)
	_ BlobStore     = blob.Store(nil)
)

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
	// AccountByID gives an account's quota and usage (QUOTA, RFC 9208).
	AccountByID(ctx context.Context, id int64) (store.Account, error)
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

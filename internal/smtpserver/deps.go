package smtpserver

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/netip"

	"github.com/emersion/go-sasl"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Resolver says where mail for an address goes; *router.Router satisfies it.
type Resolver interface {
	Resolve(ctx context.Context, addr mailaddr.Address) (router.Result, error)
	// ResolvePostmaster resolves "Postmaster" without a domain (RFC 5321
	// 4.5.1) for a server named hostname, and says which address it used.
	ResolvePostmaster(ctx context.Context, hostname string) (mailaddr.Address, router.Result, error)
}

// Deliverer files an accepted message in one transaction; store.Store
// satisfies it.
type Deliverer interface {
	Deliver(ctx context.Context, d *store.Delivery) (store.DeliveryResult, error)
}

// Blobs is the part of blob.Store the server uses.
type Blobs interface {
	Create(ctx context.Context) (blob.Writer, error)
	Open(ctx context.Context, hash string) (blob.Reader, error)
	CheckSpace(need int64) error
}

// Authenticator gives SASL servers for AUTH; *auth.Service satisfies it.
// done is called with the identity once the exchange succeeds; the errors
// are auth.ErrInvalidCredentials, ErrTooManyFailures, ErrMalformed and
// ErrTemporary.
type Authenticator interface {
	SASL(ctx context.Context, mech string, ip netip.Addr, proto string, done func(auth.Identity)) (sasl.Server, bool)
}

// MetaParser extracts the IMAP metadata of a message (internal/msgmeta).
type MetaParser func(r io.Reader) (*store.MessageMeta, error)

// Action is what an InboundChecker decides.
type Action int

const (
	// Accept delivers normally.
	Accept Action = iota
	// Junk delivers into each recipient's \Junk folder.
	Junk
	// Reject refuses the message with 550 5.7.1 (or Verdict.Reply).
	Reject
	// TempFail refuses the message with 451 4.7.0 (or Verdict.Reply).
	TempFail
)

// Inbound describes a message arriving on the MX: it is not stored yet,
// and is stored only if the verdict accepts it.
type Inbound struct {
	ConnID   string
	RemoteIP netip.Addr
	HELO     string
	TLS      *tls.ConnectionState // nil without TLS
	MailFrom string               // "" for the null sender
	Rcpts    []string
	// Message streams the message as it arrives, as it will be stored
	// (our Received header included). The checker may stop reading early;
	// reading fails if the client's DATA fails.
	Message io.Reader
}

// Verdict is an InboundChecker's decision.
type Verdict struct {
	Action Action
	// Reply replaces the default text of a Reject or TempFail reply.
	Reply string
	// Header is prepended to the message of every local recipient, e.g.
	// "Authentication-Results: ...\r\n" (complete fields, CRLF-terminated).
	Header []byte
}

// InboundChecker is the hook for SPF, DKIM and DMARC on the MX: it is called
// once per message while the message arrives, and its verdict is awaited
// before anything is stored. It bounds its own DNS work. An error means the
// check could not run: the message is refused with 451 4.7.0.
type InboundChecker interface {
	CheckInbound(ctx context.Context, m *Inbound) (Verdict, error)
}

// Outgoing describes a submitted message with remote recipients.
type Outgoing struct {
	AccountID int64
	Account   string // address of the authenticated account
	MailFrom  string
	// FromDomain is the domain of the From header (for the DKIM d=).
	FromDomain string
	// Message streams the message as it arrives, as it will be stored.
	Message io.Reader
}

// Signer is the hook for DKIM signing on submission, called while the
// message arrives: the returned header fields (CRLF-terminated) go into
// Outbound.Prefix. An error refuses the message with 451 4.3.0.
type Signer interface {
	Sign(ctx context.Context, m *Outgoing) ([]byte, error)
}

// Deps are the collaborators of a Server. Router, Deliverer and Blobs are
// required; Auth is required for submission; TLS for SubmissionTLS (and for
// STARTTLS elsewhere, which is offered only when TLS is set).
type Deps struct {
	Router    Resolver
	Deliverer Deliverer
	Blobs     Blobs
	Auth      Authenticator
	TLS       *tls.Config
	Clock     clock.Clock
	Log       *slog.Logger
	// Meta parses message metadata; nil means msgmeta.Parse with its
	// default limits.
	Meta    MetaParser
	Inbound InboundChecker // optional, MX only
	Signer  Signer         // optional, submission only
	// HeaderFilter, optional and MX only, rewrites the header section a
	// client sent before it is stored (e.g. removing Authentication-Results
	// fields that claim to be ours). It returns the new header section.
	HeaderFilter func(header []byte) []byte
	// Events writes and counts the mail events (nil: written, not counted).
	Events *events.Log
}

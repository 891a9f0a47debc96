// Package filter runs users' Sieve scripts at local delivery. Filter wraps
// the store's Deliverer: the SMTP server and the local injector (DSNs,
// vacation replies) hand it the one store.Delivery they built, and it
// rewrites each local recipient's part by that recipient's active script
// before the one store transaction. Replies (vacation, reject) go out after
// the message is committed.
//
// A script that fails (parse error, run-time error, a limit) never loses
// the message: that recipient's copy is filed into INBOX as if no script
// ran, the error is logged and recorded on the script for the user page.
package filter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/localmail"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/sieve"
	"github.com/kantorpos/kantorpos/internal/store"
)

// RunTimeout bounds one script run (the step limit usually comes first).
const RunTimeout = 10 * time.Second

// Store is what the filter needs of the store; store.Store satisfies it.
type Store interface {
	store.Deliverer
	ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error)
	SieveScript(ctx context.Context, accountID int64, name string) (store.SieveScript, error)
	SetSieveError(ctx context.Context, accountID int64, name, msg string) error
	VacationReply(ctx context.Context, accountID int64, handle, sender string, period time.Duration) (bool, error)
	AccountByID(ctx context.Context, id int64) (store.Account, error)
	Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error)
}

// Blobs opens stored messages; blob.Store satisfies it.
type Blobs interface {
	Open(ctx context.Context, hash string) (blob.Reader, error)
}

// Resolver routes redirect targets; *router.Router satisfies it.
type Resolver interface {
	Resolve(ctx context.Context, addr mailaddr.Address) (router.Result, error)
}

// Injector sends the replies; *localmail.Injector satisfies it.
type Injector interface {
	Inject(ctx context.Context, from string, to []string, content []byte) (localmail.Result, error)
}

// Forwarder rewrites the envelope sender of forwarded mail; *srs.SRS
// satisfies it.
type Forwarder interface {
	Forward(sender, ourDomain string) (string, error)
}

// Filter is a store.Deliverer that runs Sieve scripts first.
type Filter struct {
	Store    Store
	Blobs    Blobs
	Router   Resolver
	SRS      Forwarder // nil: redirects keep the original envelope sender
	Replies  Injector  // nil: no vacation or reject messages are sent
	Hostname string
	Clock    clock.Clock
	Log      *slog.Logger
	Limits   sieve.Limits
	// Events writes the filtered and auto-replied events (nil: written).
	Events *events.Log
	// Refuse, when set, turns a reject of a message with a single
	// recipient into an error for the caller to answer with (the SMTP
	// server's 550), instead of storing nothing and mailing a refusal
	// (RFC 5429 2.1.1: refuse in the protocol when it can). It gets a
	// one-line ASCII reason.
	Refuse func(reason string) error
}

// reply is a message to send once the delivery is committed.
type reply struct {
	to      string
	content []byte
	// vacation replies are recorded first (once per sender per period).
	accountID int64
	handle    string
	period    time.Duration
}

// Deliver implements store.Deliverer.
func (f *Filter) Deliver(ctx context.Context, d *store.Delivery) (store.DeliveryResult, error) {
	var replies []reply
	var raw []byte // the message, read once, when a script needs it
	out := make([]store.LocalDelivery, 0, len(d.Local))
	for _, ld := range d.Local {
		sc, err := f.Store.ActiveSieveScript(ctx, ld.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			out = append(out, ld)
			continue
		}
		if err != nil {
			return store.DeliveryResult{}, fmt.Errorf("filter: %w", err)
		}
		if raw == nil {
			if raw, err = f.read(ctx, d.Blob); err != nil {
				return store.DeliveryResult{}, fmt.Errorf("filter: %w", err)
			}
		}
		res, msg, err := f.runScript(ctx, d, ld, sc, raw)
		if err != nil {
			// A script error never loses the message: keep it in INBOX.
			f.log().Warn("sieve error", "account", ld.AccountID, "script", sc.Name, "err", err)
			if err := f.Store.SetSieveError(ctx, ld.AccountID, sc.Name, err.Error()); err != nil {
				f.log().Warn("sieve error not recorded", "err", err)
			}
			out = append(out, ld)
			continue
		}
		if reason, ok := rejected(res); ok && f.Refuse != nil && len(d.Local) == 1 && d.Remote == nil {
			f.Events.MessageFiltered(f.log(), "account", ld.AccountID, "rcpt", ld.Rcpt, "script", sc.Name,
				"actions", "reject at SMTP time")
			return store.DeliveryResult{}, f.Refuse(replyText(reason))
		}
		locals, reps, err := f.apply(ctx, d, ld, res, msg)
		if err != nil {
			return store.DeliveryResult{}, err
		}
		out = append(out, locals...)
		replies = append(replies, reps...)
	}
	d.Local = out
	var res store.DeliveryResult
	if len(d.Local) > 0 || d.Remote != nil && len(d.Remote.Rcpts) > 0 {
		var err error
		if res, err = f.Store.Deliver(ctx, d); err != nil {
			return res, err
		}
	}
	for _, r := range replies {
		f.send(ctx, r)
	}
	return res, nil
}

func (f *Filter) read(ctx context.Context, ref store.BlobRef) ([]byte, error) {
	r, err := f.Blobs.Open(ctx, ref.Hash)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(io.NewSectionReader(r, 0, r.Size()), sieve.MaxBodyTest+256<<10))
}

// runScript parses and runs one recipient's script.
func (f *Filter) runScript(ctx context.Context, d *store.Delivery, ld store.LocalDelivery, sc store.SieveScript, raw []byte) (*sieve.Result, *sieve.Message, error) {
	s, err := sieve.Parse(sc.Content)
	if err != nil {
		return nil, nil, err
	}
	msg, err := sieve.NewMessage(io.MultiReader(bytes.NewReader(ld.Prefix), bytes.NewReader(raw)),
		int64(len(ld.Prefix))+d.Blob.Size)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	env := sieve.Env{
		Envelope: sieve.Envelope{From: d.From, To: ld.Rcpt},
		Now:      f.now(),
		Limits:   f.Limits,
		MailboxExists: func(name string) bool {
			_, err := f.Store.Mailbox(ctx, ld.AccountID, name)
			return err == nil
		},
		Include: func(name string) (string, error) {
			sc, err := f.Store.SieveScript(ctx, ld.AccountID, name)
			if errors.Is(err, store.ErrNotFound) {
				return "", sieve.ErrNoScript
			}
			return sc.Content, err
		},
	}
	res, err := s.Run(ctx, msg, env)
	if err != nil {
		return nil, nil, err
	}
	f.logActions(ld, sc.Name, res)
	if sc.LastError != "" {
		if err := f.Store.SetSieveError(ctx, ld.AccountID, sc.Name, ""); err != nil {
			f.log().Warn("sieve error not cleared", "err", err)
		}
	}
	return res, msg, nil
}

func (f *Filter) logActions(ld store.LocalDelivery, script string, res *sieve.Result) {
	var acts []string
	for _, a := range res.Actions {
		s := a.Kind.String()
		switch a.Kind {
		case sieve.ActFileInto:
			s += ":" + a.Mailbox
		case sieve.ActRedirect:
			s += ":" + a.Addr
		}
		acts = append(acts, s)
	}
	f.Events.MessageFiltered(f.log(), "account", ld.AccountID, "rcpt", ld.Rcpt, "script", script,
		"actions", strings.Join(acts, ","))
}

func (f *Filter) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

func (f *Filter) now() time.Time {
	if f.Clock == nil {
		return time.Now()
	}
	return f.Clock.Now()
}

// rejected reports a reject action and its reason.
func rejected(res *sieve.Result) (string, bool) {
	for _, a := range res.Actions {
		if a.Kind == sieve.ActReject {
			return a.Reason, true
		}
	}
	return "", false
}

// replyText makes a reason fit an SMTP reply: one line of printable
// ASCII, at most 200 characters.
func replyText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 200 {
		b = append(b[:197], "..."...)
	}
	if len(b) == 0 {
		return "Refused by the recipient's filter"
	}
	return string(b)
}

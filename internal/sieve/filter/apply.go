package filter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/sieve"
	"github.com/kantorpos/kantorpos/internal/store"
)

// apply turns one recipient's actions into local deliveries, remote
// recipients (added to d.Remote) and replies to send after the commit.
func (f *Filter) apply(ctx context.Context, d *store.Delivery, ld store.LocalDelivery, res *sieve.Result, msg *sieve.Message) ([]store.LocalDelivery, []reply, error) {
	var locals []store.LocalDelivery
	var replies []reply
	filed := map[string]bool{}
	file := func(mailbox string, flags []string) {
		key := strings.ToLower(mailbox)
		if mailbox == "" || strings.EqualFold(mailbox, "INBOX") {
			key = ""
		}
		if filed[key] {
			return
		}
		filed[key] = true
		c := ld
		c.Flags = append(append([]string(nil), ld.Flags...), flags...)
		if mailbox != "" {
			c.Mailbox, c.SpecialUse = mailbox, ""
		}
		locals = append(locals, c)
	}
	var acc *store.Account
	account := func() (store.Account, error) {
		if acc == nil {
			a, err := f.Store.AccountByID(ctx, ld.AccountID)
			if err != nil {
				return a, fmt.Errorf("filter: %w", err)
			}
			acc = &a
		}
		return *acc, nil
	}
	for _, a := range res.Actions {
		switch a.Kind {
		case sieve.ActKeep:
			file("", a.Flags)
		case sieve.ActFileInto:
			// RFC 5490 3.2: :create makes the folder; without it a missing
			// folder means INBOX (the store falls back to it).
			if a.Create {
				if _, err := f.Store.CreateMailbox(ctx, ld.AccountID, a.Mailbox, ""); err != nil && !errors.Is(err, store.ErrExists) {
					f.log().Warn("sieve fileinto :create", "account", ld.AccountID, "mailbox", a.Mailbox, "err", err)
				}
			}
			file(a.Mailbox, a.Flags)
		case sieve.ActDiscard:
		case sieve.ActRedirect:
			if loops(ld, a.Addr) {
				f.log().Warn("sieve redirect skipped: loop", "account", ld.AccountID, "to", a.Addr)
				file("", nil)
				continue
			}
			more, err := f.redirect(ctx, d, ld, a.Addr)
			if err != nil {
				return nil, nil, err
			}
			locals = append(locals, more...)
		case sieve.ActReject:
			acc, err := account()
			if err != nil {
				return nil, nil, err
			}
			if r, ok := f.rejectReply(d, ld, acc, msg, a.Reason); ok {
				replies = append(replies, r)
			}
		case sieve.ActVacation:
			acc, err := account()
			if err != nil {
				return nil, nil, err
			}
			if r, ok := f.vacationReply(d, ld, acc, msg, a.Vacation); ok {
				replies = append(replies, r)
			}
		}
	}
	return locals, replies, nil
}

// loops reports whether the message already went through the address the
// script redirects to, or the recipient itself is the target.
func loops(ld store.LocalDelivery, to string) bool {
	return strings.EqualFold(to, ld.Rcpt)
}

// redirect adds a target: a local account gets its own copy (its own
// script does not run again: no loops), anything else goes to the queue
// with the original envelope sender (RFC 5228 4.2).
func (f *Filter) redirect(ctx context.Context, d *store.Delivery, ld store.LocalDelivery, to string) ([]store.LocalDelivery, error) {
	addr, err := mailaddr.Parse(to)
	if err != nil {
		f.log().Warn("sieve redirect: bad address", "to", to, "err", err)
		return nil, nil
	}
	r, err := f.Router.Resolve(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("filter: redirect %s: %w", to, err)
	}
	var locals []store.LocalDelivery
	remote := []string{}
	switch r.Status {
	case router.Deliver:
		for _, l := range r.Local {
			if l.Account.ID == ld.AccountID {
				continue
			}
			locals = append(locals, store.LocalDelivery{AccountID: l.Account.ID, Rcpt: l.Address,
				Prefix: []byte("Return-Path: <" + d.From + ">\r\nDelivered-To: " + l.Address + "\r\n")})
		}
		for _, a := range r.Remote {
			remote = append(remote, a.String())
		}
	case router.NotOurs:
		remote = append(remote, addr.String())
	default:
		f.log().Warn("sieve redirect: no such address", "to", to)
		return nil, nil
	}
	for _, rcpt := range remote {
		if d.Remote == nil {
			from, err := f.forwardSender(d.From, ld.Rcpt)
			if err != nil {
				return nil, err
			}
			d.Remote = &store.Outbound{From: from}
		}
		dup := false
		for _, o := range d.Remote.Rcpts {
			dup = dup || strings.EqualFold(o.Addr, rcpt)
		}
		if !dup {
			d.Remote.Rcpts = append(d.Remote.Rcpts, store.OutRcpt{Addr: rcpt})
		}
	}
	return locals, nil
}

// forwardSender is the envelope sender of forwarded mail: rewritten with
// SRS in the forwarding recipient's domain, so that the receiver's SPF
// check passes and bounces come back to us (and go on to the sender). A
// message that also had remote recipients of its own keeps its sender:
// then it came from one of our users, whose domain passes SPF anyway.
func (f *Filter) forwardSender(from, rcpt string) (string, error) {
	at := strings.LastIndexByte(rcpt, '@')
	if f.SRS == nil || from == "" || at < 0 {
		return from, nil
	}
	out, err := f.SRS.Forward(from, rcpt[at+1:])
	if err != nil {
		return "", fmt.Errorf("filter: srs: %w", err)
	}
	return out, nil
}

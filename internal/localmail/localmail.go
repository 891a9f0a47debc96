// Package localmail files messages that kantorpos itself writes (delivery
// status notifications, later vacation replies): it stores the content as
// a blob and routes each recipient like the SMTP server would, to local
// mailboxes or to the outbound queue, in one store transaction.
package localmail

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Resolver routes a recipient; *router.Router satisfies it.
type Resolver interface {
	Resolve(ctx context.Context, addr mailaddr.Address) (router.Result, error)
}

// Injector files generated messages.
type Injector struct {
	Router    Resolver
	Blobs     blob.Store
	Deliverer store.Deliverer
	Clock     clock.Clock
	// Kick, when set, is called after remote recipients were queued.
	Kick func()
}

// Result says where an injected message went.
type Result struct {
	Local   int
	Queued  int
	Dropped []string // recipients that are neither ours nor valid remote addresses
}

// Inject files content from envelope sender from ("" = <>) to recipients.
func (in *Injector) Inject(ctx context.Context, from string, to []string, content []byte) (Result, error) {
	var res Result
	now := in.now()
	w, err := in.Blobs.Create(ctx)
	if err != nil {
		return res, fmt.Errorf("localmail: %w", err)
	}
	defer w.Abort()
	if _, err := w.Write(content); err != nil {
		return res, fmt.Errorf("localmail: %w", err)
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		return res, fmt.Errorf("localmail: %w", err)
	}
	meta, err := msgmeta.Parse(bytes.NewReader(content), msgmeta.Limits{})
	if err != nil {
		return res, fmt.Errorf("localmail: %w", err)
	}
	d := &store.Delivery{Blob: ref, Meta: meta, ReceivedAt: now, From: from}
	returnPath := "Return-Path: <" + from + ">\r\n"
	seen := map[string]bool{}
	for _, rcpt := range to {
		a, err := mailaddr.Parse(rcpt)
		if err != nil {
			res.Dropped = append(res.Dropped, rcpt)
			continue
		}
		r, err := in.Router.Resolve(ctx, a)
		if err != nil {
			return res, fmt.Errorf("localmail: route %s: %w", rcpt, err)
		}
		switch r.Status {
		case router.Deliver:
			for _, l := range r.Local {
				key := fmt.Sprint("l:", l.Account.ID) // one copy per account
				if seen[key] {
					continue
				}
				seen[key] = true
				d.Local = append(d.Local, store.LocalDelivery{AccountID: l.Account.ID, Rcpt: l.Address,
					Prefix: []byte(returnPath + "Delivered-To: " + l.Address + "\r\n")})
			}
			for _, rem := range r.Remote {
				in.addRemote(d, from, rem.String(), seen)
			}
		case router.NotOurs:
			in.addRemote(d, from, a.String(), seen)
		default:
			res.Dropped = append(res.Dropped, rcpt)
		}
	}
	if len(d.Local) == 0 && d.Remote == nil {
		return res, nil
	}
	out, err := in.Deliverer.Deliver(ctx, d)
	if err != nil {
		return res, fmt.Errorf("localmail: %w", err)
	}
	res.Local, res.Queued = len(out.Local), len(out.QueueIDs)
	if res.Queued > 0 && in.Kick != nil {
		in.Kick()
	}
	return res, nil
}

func (in *Injector) addRemote(d *store.Delivery, from, addr string, seen map[string]bool) {
	if seen["r:"+addr] {
		return
	}
	seen["r:"+addr] = true
	if d.Remote == nil {
		d.Remote = &store.Outbound{From: from}
	}
	d.Remote.Rcpts = append(d.Remote.Rcpts, store.OutRcpt{Addr: addr, Notify: "NEVER"})
}

func (in *Injector) now() time.Time {
	if in.Clock == nil {
		return time.Now()
	}
	return in.Clock.Now()
}

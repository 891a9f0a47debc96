package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Bouncer returns queued mail to its sender (*queue.Runner).
type Bouncer interface {
	Bounce(ctx context.Context, id int64, reason string) error
}

func queueErr(err error, id int64) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return userErr(err, "no queue entry %d (delivered or removed meanwhile?)", id)
	case errors.Is(err, store.ErrLocked):
		return userErr(err, "queue entry %d is being delivered right now; try again in a moment", id)
	}
	return err
}

// QueueList lists queue entries, the next due first; domain "" = all.
func (o *Ops) QueueList(ctx context.Context, domain string, limit int) ([]store.QueueEntry, error) {
	return o.Store.QueueEntries(ctx, store.QueueFilter{Domain: domain, Limit: limit})
}

// QueueShow returns one entry with its recipients.
func (o *Ops) QueueShow(ctx context.Context, id int64) (store.QueueEntry, error) {
	e, err := o.Store.QueueEntry(ctx, id)
	return e, queueErr(err, id)
}

// QueueRetry makes an entry (id 0: every entry) due now; the runner picks it
// up within a second.
func (o *Ops) QueueRetry(ctx context.Context, id int64) (int, error) {
	n, err := o.Store.RetryQueue(ctx, id, o.now())
	if err != nil {
		return n, queueErr(err, id)
	}
	o.log().Info("queue retry", "id", id, "entries", n)
	return n, nil
}

// QueueDelete removes an entry without telling the sender.
func (o *Ops) QueueDelete(ctx context.Context, id int64) error {
	if err := o.Store.DeleteQueue(ctx, id); err != nil {
		return queueErr(err, id)
	}
	o.log().Warn("queue entry deleted by the administrator", "id", id)
	return nil
}

// QueueBounce gives up on an entry and sends the sender a DSN.
func (o *Ops) QueueBounce(ctx context.Context, id int64) error {
	if o.Bouncer == nil {
		return fmt.Errorf("bouncing is not available here")
	}
	if err := o.Bouncer.Bounce(ctx, id, ""); err != nil {
		return queueErr(err, id)
	}
	return nil
}

package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/kantorpos/kantorpos/internal/dsn"
	"github.com/kantorpos/kantorpos/internal/logfield"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Bounce gives up on every pending recipient of an entry now: the sender
// gets a DSN (as NOTIFY allows) and the entry leaves the queue. It works
// from any process (the admin command line) through the store's lease.
func (r *Runner) Bounce(ctx context.Context, id int64, reason string) error {
	now := r.clock.Now()
	owner := r.cfg.Owner + "/admin"
	e, err := r.store.LeaseEntry(ctx, id, now, owner, 5*time.Minute)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "returned to the sender by the postmaster"
	}
	out := store.AttemptResult{At: now, Rcpts: map[int64]store.RcptUpdate{}, DelayNotified: e.DelayNotified}
	var report []dsn.Recipient
	for _, rc := range e.Rcpts {
		if rc.Status != store.RcptPending {
			continue
		}
		out.Rcpts[rc.ID] = store.RcptUpdate{Status: store.RcptFailed, Code: 550, Error: "5.0.0 " + reason}
		r.cfg.Events.RcptBounced(r.log, "queue_id", e.ID, "tx", e.MsgID, "message_id", logfield.Clean(e.MessageID, 200), "from", e.From, "rcpt", rc.Addr, "reason", reason)
		if dsn.IsNullSender(e.From) || !dsn.ShouldNotify(rc.Notify, dsn.Failed) {
			continue
		}
		why := reason
		if rc.LastError != "" {
			why += "; last error: " + rc.LastError
		}
		report = append(report, dsn.Recipient{Final: rc.Addr, Original: rc.ORCPT, Action: dsn.Failed,
			Status: "5.0.0", Reason: why, LastAttempt: e.LastAttempt})
	}
	if len(report) > 0 {
		if err := r.sendReport(ctx, &e, report, now); err != nil {
			return fmt.Errorf("bounce %d: %w", id, err)
		}
	}
	if _, err := r.store.RecordAttempt(ctx, id, owner, out); err != nil {
		return fmt.Errorf("bounce %d: %w", id, err)
	}
	return nil
}

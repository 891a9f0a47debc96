package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/delivery"
	"github.com/kantorpos/kantorpos/internal/dsn"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/logfield"
	"github.com/kantorpos/kantorpos/internal/store"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// attempt makes one delivery attempt of a leased entry and records it.
// Reports are filed before the attempt is recorded: a crash between the two
// repeats the attempt (a duplicate) rather than losing a bounce.
func (r *Runner) attempt(ctx context.Context, e store.QueueEntry) error {
	var pending []store.QueueRcpt
	for _, rc := range e.Rcpts {
		if rc.Status == store.RcptPending {
			pending = append(pending, rc)
		}
	}
	if len(pending) == 0 { // nothing left (a crash after the last result)
		_, err := r.store.RecordAttempt(ctx, e.ID, r.cfg.Owner, store.AttemptResult{At: r.clock.Now()})
		return err
	}
	m := &delivery.Message{
		From: e.From, RET: e.RET, EnvID: e.EnvID, SMTPUTF8: e.SMTPUTF8, EightBit: e.Body8Bit,
		Size: int64(len(e.Prefix)) + e.Blob.Size,
		Open: func() (io.ReadCloser, error) { return r.openBody(ctx, &e) },
	}
	for _, rc := range pending {
		m.Rcpts = append(m.Rcpts, delivery.Rcpt{Addr: rc.Addr, Notify: rc.Notify, ORcpt: rc.ORCPT})
	}
	results := r.transport.Deliver(ctx, m)
	if len(results) != len(pending) {
		return fmt.Errorf("transport returned %d results for %d recipients", len(results), len(pending))
	}
	now := r.clock.Now()
	giveUp := e.Created.Add(r.cfg.MaxAge)
	out := store.AttemptResult{At: now, Rcpts: map[int64]store.RcptUpdate{}, DelayNotified: e.DelayNotified}
	var report []dsn.Recipient
	warnDelay := r.cfg.DelayWarning > 0 && !e.DelayNotified && now.Sub(e.Created) >= r.cfg.DelayWarning
	stillPending := 0
	for i, res := range results {
		rc := pending[i]
		upd := store.RcptUpdate{Code: res.Code, Error: describe(res)}
		var action dsn.Action
		status := res.Enhanced
		switch {
		case res.Status == delivery.Delivered:
			upd.Status, action = store.RcptDelivered, dsn.Delivered
			if !res.PeerDSN {
				action = dsn.Relayed // the next hop will not report (RFC 3461 6.2.3)
			}
			r.event("delivered", &e, rc.Addr, res, "")
		case res.Status == delivery.PermFail:
			upd.Status, action = store.RcptFailed, dsn.Failed
			r.event("bounced", &e, rc.Addr, res, "")
		case !now.Before(giveUp):
			// RFC 5321 4.5.4.1: give up after the configured time.
			upd.Status, action, status = store.RcptFailed, dsn.Failed, "4.4.7"
			upd.Error = "delivery time expired: " + upd.Error
			r.event("bounced", &e, rc.Addr, res, "expired")
		default:
			upd.Status = store.RcptPending
			stillPending++
			out.LastError = upd.Error
			r.event("deferred", &e, rc.Addr, res, "")
			if warnDelay {
				action = dsn.Delayed
			}
		}
		out.Rcpts[rc.ID] = upd
		if action == "" || dsn.IsNullSender(e.From) || !dsn.ShouldNotify(rc.Notify, action) {
			continue
		}
		dr := dsn.Recipient{
			Final: rc.Addr, Original: rc.ORCPT, Action: action, Status: status,
			RemoteMTA: res.Host, Diagnostic: res.Diagnostic(), LastAttempt: now,
		}
		if !res.Remote {
			dr.Reason = strings.TrimSpace(res.Message)
		}
		if action == dsn.Delayed {
			dr.WillRetryUntil = giveUp
		}
		report = append(report, dr)
	}
	if stillPending > 0 {
		out.NextAttempt = now.Add(r.cfg.RetryInterval)
		if out.NextAttempt.After(giveUp) {
			out.NextAttempt = giveUp
		}
		if warnDelay {
			out.DelayNotified = true
		}
	}
	if len(report) > 0 {
		if err := r.sendReport(ctx, &e, report, now); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if _, err := r.store.RecordAttempt(ctx, e.ID, r.cfg.Owner, out); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// describe is the one-line outcome kept with the recipient.
func describe(res delivery.RcptResult) string {
	if d := res.Diagnostic(); d != "" {
		if res.Host != "" {
			return res.Host + ": " + d
		}
		return d
	}
	msg := strings.TrimSpace(res.Message)
	if res.Enhanced != "" {
		msg = res.Enhanced + " " + msg
	}
	return msg
}

// event writes the mail event log line of one recipient's outcome.
func (r *Runner) event(kind string, e *store.QueueEntry, rcpt string, res delivery.RcptResult, why string) {
	attrs := []any{"queue_id", e.ID, "tx", e.MsgID, "message_id", logfield.Clean(e.MessageID, 200), "from", e.From, "rcpt", rcpt, "attempt", e.Attempts + 1,
		"host", res.Host, "code", res.Code, "status", res.Enhanced, "tls", res.TLS}
	if why != "" {
		attrs = append(attrs, "reason", why)
	}
	if res.Message != "" {
		attrs = append(attrs, "reply", strings.TrimSpace(res.Message))
	}
	switch kind {
	case events.Delivered:
		r.cfg.Events.RcptDelivered(r.log, r.clock.Now().Sub(e.Created), attrs...)
	case events.Bounced:
		r.cfg.Events.RcptBounced(r.log, attrs...)
	default:
		r.cfg.Events.RcptDeferred(r.log, attrs...)
	}
}

// sendReport builds a DSN for the recipients in report and files it for
// the original sender, with the null sender.
func (r *Runner) sendReport(ctx context.Context, e *store.QueueEntry, report []dsn.Recipient, now time.Time) error {
	orig, err := r.openBody(ctx, e)
	if err != nil {
		return err
	}
	defer orig.Close()
	msg, err := dsn.Build(dsn.Params{
		Hostname: r.cfg.Hostname, To: e.From, EnvID: e.EnvID, RET: e.RET,
		Arrival: e.Created, Date: now, Recipients: report, Original: orig,
	})
	if err != nil {
		return err
	}
	res, err := r.inject.Inject(ctx, "", []string{e.From}, msg)
	if err != nil {
		return err
	}
	r.cfg.Events.DSNSent(r.log, "queue_id", e.ID, "tx", e.MsgID, "message_id", logfield.Clean(e.MessageID, 200), "to", e.From, "recipients", len(report),
		"action", string(report[0].Action), "local", res.Local, "queued", res.Queued)
	return nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Deliver implements store.Deliverer: one transaction files the message for
// every local recipient and queues it once per remote destination domain.
// The blob is stored once, with one reference per message row and queue
// entry. Quotas are not enforced here: the SMTP server checks them at RCPT,
// and a message accepted must be filed.
func (s *Store) Deliver(ctx context.Context, d *store.Delivery) (store.DeliveryResult, error) {
	var res store.DeliveryResult
	groups := groupByDomain(d.Remote)
	refs := len(d.Local) + len(groups)
	if refs == 0 {
		return res, fmt.Errorf("sqlstore: deliver: no recipients")
	}
	received := d.ReceivedAt
	if received.IsZero() {
		received = s.clock.Now()
	}
	err := s.write(ctx, func(t *wtx) error {
		res = store.DeliveryResult{}
		blobID, err := s.upsertBlob(t, d.Blob, d.Meta, refs)
		if err != nil {
			return err
		}
		if len(d.Local) > 0 {
			res.Local = make([]store.Appended, len(d.Local))
		}
		order := make([]int, len(d.Local))
		for i, l := range d.Local {
			mb, err := deliveryMailbox(t, l)
			if err != nil {
				return err
			}
			res.Local[i] = store.Appended{AccountID: l.AccountID, MailboxID: mb}
			order[i] = i
		}
		// Mailboxes are locked (PostgreSQL) in id order, so that concurrent
		// deliveries to the same recipients never deadlock.
		sort.SliceStable(order, func(a, b int) bool { return res.Local[order[a]].MailboxID < res.Local[order[b]].MailboxID })
		for _, i := range order {
			l := d.Local[i]
			size := int64(len(l.Prefix)) + d.Blob.Size
			uids, _, err := insertMessages(t, res.Local[i].MailboxID, l.AccountID, []newRow{{blobID, l.Prefix, l.Flags, dateMicros(received), size}})
			if err != nil {
				return err
			}
			res.Local[i].UID = uids[0]
		}
		for _, g := range groups {
			id, err := s.insertQueue(t, blobID, d.Remote, g.domain, g.rcpts, toNanos(received))
			if err != nil {
				return err
			}
			res.QueueIDs = append(res.QueueIDs, id)
		}
		return nil
	})
	return res, err
}

// deliveryMailbox picks the mailbox a local delivery goes to: the folder
// with the requested special use, else the named folder, else INBOX.
func deliveryMailbox(t *wtx, l store.LocalDelivery) (int64, error) {
	var id int64
	if l.SpecialUse != "" {
		err := t.QueryRow(`SELECT id FROM mailboxes WHERE account_id = $1 AND special_use = $2 ORDER BY id LIMIT 1`, l.AccountID, l.SpecialUse).Scan(&id)
		if err == nil {
			return id, nil
		}
		if err != sql.ErrNoRows {
			return 0, unavailable("deliver", err)
		}
	}
	if l.Mailbox != "" {
		err := t.QueryRow(`SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`, l.AccountID, store.CanonicalName(l.Mailbox)).Scan(&id)
		if err == nil {
			return id, nil
		}
		if err != sql.ErrNoRows {
			return 0, unavailable("deliver", err)
		}
	}
	err := t.QueryRow(`SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`, l.AccountID, store.Inbox).Scan(&id)
	if err != nil {
		return 0, unavailable("deliver", notFound(err, fmt.Sprintf("INBOX of account %d", l.AccountID)))
	}
	return id, nil
}

type domainGroup struct {
	domain string
	rcpts  []store.OutRcpt
}

func groupByDomain(o *store.Outbound) []domainGroup {
	if o == nil {
		return nil
	}
	idx := map[string]int{}
	var out []domainGroup
	for _, r := range o.Rcpts {
		d := strings.ToLower(domainOf(r.Addr))
		i, ok := idx[d]
		if !ok {
			i = len(out)
			idx[d] = i
			out = append(out, domainGroup{domain: d})
		}
		out[i].rcpts = append(out[i].rcpts, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].domain < out[j].domain })
	return out
}

func (s *Store) insertQueue(t *wtx, blobID int64, o *store.Outbound, domain string, rcpts []store.OutRcpt, now int64) (int64, error) {
	var id int64
	err := t.QueryRow(`INSERT INTO queue (domain, blob_id, prefix, mail_from, ret, envid, smtputf8, body8bit, account_id, created, next_attempt, msg_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id`,
		domain, blobID, o.Prefix, o.From, o.RET, o.EnvID, boolInt(o.SMTPUTF8), boolInt(o.Body8Bit), o.AccountID, now,
		clip(o.MsgID)).Scan(&id)
	if err != nil {
		return 0, unavailable("queue", err)
	}
	for _, r := range rcpts {
		if _, err := t.Exec(`INSERT INTO queue_rcpts (queue_id, addr, orcpt, notify) VALUES ($1, $2, $3, $4)`,
			id, r.Addr, r.ORCPT, r.Notify); err != nil {
			return 0, unavailable("queue", err)
		}
	}
	return id, nil
}

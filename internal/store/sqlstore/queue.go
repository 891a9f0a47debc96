package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

const queueCols = `q.id, q.domain, b.hash, b.size, q.prefix, q.mail_from, q.ret, q.envid, q.smtputf8, q.body8bit,
	q.account_id, q.created, q.next_attempt, q.last_attempt, q.attempts, q.last_error, q.delay_notified,
	q.lease_owner, q.lease_until, q.msg_id, b.message_id`

func scanQueue(row interface{ Scan(...any) error }) (store.QueueEntry, error) {
	var e store.QueueEntry
	var utf8, b8, notified int
	var created, next, last, lease int64
	err := row.Scan(&e.ID, &e.Domain, &e.Blob.Hash, &e.Blob.Size, &e.Prefix, &e.From, &e.RET, &e.EnvID, &utf8, &b8,
		&e.AccountID, &created, &next, &last, &e.Attempts, &e.LastError, &notified, &e.LeaseOwner, &lease,
		&e.MsgID, &e.MessageID)
	e.SMTPUTF8, e.Body8Bit, e.DelayNotified = utf8 != 0, b8 != 0, notified != 0
	e.Created, e.NextAttempt, e.LastAttempt, e.LeaseUntil = fromNanos(created), fromNanos(next), fromNanos(last), fromNanos(lease)
	return e, err
}

// loadRcpts fills the recipients of entries.
func (s *Store) loadRcpts(ctx context.Context, q func(string, ...any) (rowsLike, error), entries []store.QueueEntry) error {
	if len(entries) == 0 {
		return nil
	}
	idx := map[int64]int{}
	ids := make([]string, len(entries))
	for i, e := range entries {
		idx[e.ID] = i
		ids[i] = fmt.Sprint(e.ID)
	}
	rows, err := q(`SELECT id, queue_id, addr, orcpt, notify, status, last_code, last_error FROM queue_rcpts
		WHERE queue_id IN (` + strings.Join(ids, ",") + `) ORDER BY id`)
	if err != nil {
		return unavailable("queue rcpts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.QueueRcpt
		var qid int64
		if err := rows.Scan(&r.ID, &qid, &r.Addr, &r.ORCPT, &r.Notify, &r.Status, &r.LastCode, &r.LastError); err != nil {
			return unavailable("queue rcpts", err)
		}
		e := &entries[idx[qid]]
		e.Rcpts = append(e.Rcpts, r)
	}
	return unavailable("queue rcpts", rows.Err())
}

type rowsLike interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}

// LeaseQueue implements store.Queue.
func (s *Store) LeaseQueue(ctx context.Context, now time.Time, owner string, leaseFor time.Duration, limit int) ([]store.QueueEntry, error) {
	var out []store.QueueEntry
	err := s.write(ctx, func(t *wtx) error {
		out = nil
		n := toNanos(now)
		ids, err := queryIDs(t, `SELECT id FROM queue WHERE next_attempt <= $1 AND (lease_owner = '' OR lease_until < $1)
			ORDER BY next_attempt, id LIMIT $2`+t.d.skipLocked, n, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		in := idList(ids)
		if _, err := t.Exec(`UPDATE queue SET lease_owner = $1, lease_until = $2 WHERE id IN (`+in+`)`, owner, n+int64(leaseFor)); err != nil {
			return unavailable("lease", err)
		}
		rows, err := t.Query(`SELECT ` + queueCols + ` FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id IN (` + in + `) ORDER BY q.next_attempt, q.id`)
		if err != nil {
			return unavailable("lease", err)
		}
		for rows.Next() {
			e, err := scanQueue(rows)
			if err != nil {
				rows.Close()
				return unavailable("lease", err)
			}
			out = append(out, e)
		}
		rows.Close()
		return s.loadRcpts(ctx, func(q string, args ...any) (rowsLike, error) { return t.Query(q, args...) }, out)
	})
	return out, err
}

func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ",")
}

func queryIDs(t *wtx, q string, args ...any) ([]int64, error) {
	rows, err := t.Query(q, args...)
	if err != nil {
		return nil, unavailable("ids", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, unavailable("ids", err)
		}
		out = append(out, id)
	}
	return out, unavailable("ids", rows.Err())
}

// RecordAttempt implements store.Queue.
func (s *Store) RecordAttempt(ctx context.Context, id int64, owner string, r store.AttemptResult) (int, error) {
	var pending int
	err := s.write(ctx, func(t *wtx) error {
		var holder string
		var blobID int64
		// Locked, so that a lease taken over meanwhile by another node is seen.
		if err := t.QueryRow(`SELECT lease_owner, blob_id FROM queue WHERE id = $1`+t.d.forUpdate, id).Scan(&holder, &blobID); err != nil {
			return unavailable("record attempt", notFound(err, fmt.Sprintf("queue entry %d", id)))
		}
		if holder != owner {
			return fmt.Errorf("queue entry %d held by %q: %w", id, holder, store.ErrLeaseLost)
		}
		for rid, u := range r.Rcpts {
			if _, err := t.Exec(`UPDATE queue_rcpts SET status = $1, last_code = $2, last_error = $3 WHERE id = $4 AND queue_id = $5`,
				u.Status, u.Code, u.Error, rid, id); err != nil {
				return unavailable("record attempt", err)
			}
		}
		if err := t.QueryRow(`SELECT count(*) FROM queue_rcpts WHERE queue_id = $1 AND status = $2`, id, store.RcptPending).Scan(&pending); err != nil {
			return unavailable("record attempt", err)
		}
		if pending == 0 {
			return s.dropQueue(t, id, blobID)
		}
		_, err := t.Exec(`UPDATE queue SET attempts = attempts + 1, last_attempt = $1, next_attempt = $2, last_error = $3,
			delay_notified = $4, lease_owner = '', lease_until = 0 WHERE id = $5`,
			toNanos(r.At), toNanos(r.NextAttempt), r.LastError, boolInt(r.DelayNotified), id)
		return unavailable("record attempt", err)
	})
	return pending, err
}

func (s *Store) dropQueue(t *wtx, id, blobID int64) error {
	for _, q := range []string{`DELETE FROM queue_rcpts WHERE queue_id = $1`, `DELETE FROM queue WHERE id = $1`} {
		if _, err := t.Exec(q, id); err != nil {
			return unavailable("drop queue entry", err)
		}
	}
	return s.unrefBlobs(t, map[int64]int{blobID: 1})
}

// QueueEntries implements store.Queue.
func (s *Store) QueueEntries(ctx context.Context, f store.QueueFilter) ([]store.QueueEntry, error) {
	q := `SELECT ` + queueCols + ` FROM queue q JOIN blobs b ON b.id = q.blob_id`
	var args []any
	if f.Domain != "" {
		q += ` WHERE q.domain = $1`
		args = append(args, strings.ToLower(f.Domain))
	}
	q += ` ORDER BY q.next_attempt, q.id`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, unavailable("queue", err)
	}
	var out []store.QueueEntry
	for rows.Next() {
		e, err := scanQueue(rows)
		if err != nil {
			rows.Close()
			return nil, unavailable("queue", err)
		}
		out = append(out, e)
	}
	rows.Close()
	return out, s.loadRcpts(ctx, func(q string, args ...any) (rowsLike, error) { return s.query(ctx, q, args...) }, out)
}

// QueueEntry implements store.Queue.
func (s *Store) QueueEntry(ctx context.Context, id int64) (store.QueueEntry, error) {
	e, err := scanQueue(s.queryRow(ctx, `SELECT `+queueCols+` FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id = $1`, id))
	if err != nil {
		return e, unavailable("queue entry", notFound(err, fmt.Sprintf("queue entry %d", id)))
	}
	list := []store.QueueEntry{e}
	err = s.loadRcpts(ctx, func(q string, args ...any) (rowsLike, error) { return s.query(ctx, q, args...) }, list)
	return list[0], err
}

// RetryQueue implements store.Queue.
func (s *Store) RetryQueue(ctx context.Context, id int64, at time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(t *wtx) error {
		q, args := `UPDATE queue SET next_attempt = $1`, []any{toNanos(at)}
		if id != 0 {
			q += ` WHERE id = $2`
			args = append(args, id)
		}
		res, err := t.Exec(q, args...)
		if err != nil {
			return unavailable("retry", err)
		}
		n, _ = res.RowsAffected()
		if id != 0 && n == 0 {
			return fmt.Errorf("queue entry %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
	return int(n), err
}

// DeleteQueue implements store.Queue.
func (s *Store) DeleteQueue(ctx context.Context, id int64) error {
	return s.write(ctx, func(t *wtx) error {
		var blobID int64
		if err := t.QueryRow(`SELECT blob_id FROM queue WHERE id = $1`+t.d.forUpdate, id).Scan(&blobID); err != nil {
			return unavailable("delete queue entry", notFound(err, fmt.Sprintf("queue entry %d", id)))
		}
		return s.dropQueue(t, id, blobID)
	})
}

// NextQueueAttempt implements store.Queue. A leased entry counts from when
// its lease runs out.
func (s *Store) NextQueueAttempt(ctx context.Context) (time.Time, bool, error) {
	var n *int64
	err := s.queryRow(ctx, `SELECT min(CASE WHEN lease_owner <> '' AND lease_until > next_attempt
		THEN lease_until ELSE next_attempt END) FROM queue`).Scan(&n)
	if err != nil {
		return time.Time{}, false, unavailable("next attempt", err)
	}
	if n == nil {
		return time.Time{}, false, nil
	}
	return fromNanos(*n), true, nil
}

// ReleaseLeases implements store.Queue.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) (int, error) {
	var n int64
	err := s.write(ctx, func(t *wtx) error {
		res, err := t.Exec(`UPDATE queue SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1`, owner)
		if err != nil {
			return unavailable("release leases", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// LeaseEntry implements store.Queue.
func (s *Store) LeaseEntry(ctx context.Context, id int64, now time.Time, owner string, leaseFor time.Duration) (store.QueueEntry, error) {
	var e store.QueueEntry
	err := s.write(ctx, func(t *wtx) error {
		var holder string
		var until int64
		if err := t.QueryRow(`SELECT lease_owner, lease_until FROM queue WHERE id = $1`+t.d.skipLocked, id).Scan(&holder, &until); err != nil {
			return unavailable("lease entry", notFound(err, fmt.Sprintf("queue entry %d", id)))
		}
		if holder != "" && holder != owner && until >= toNanos(now) {
			return fmt.Errorf("queue entry %d is being delivered by %s: %w", id, holder, store.ErrLocked)
		}
		if _, err := t.Exec(`UPDATE queue SET lease_owner = $1, lease_until = $2 WHERE id = $3`, owner, toNanos(now)+int64(leaseFor), id); err != nil {
			return unavailable("lease entry", err)
		}
		var err error
		e, err = scanQueue(t.QueryRow(`SELECT `+queueCols+` FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id = $1`, id))
		if err != nil {
			return unavailable("lease entry", err)
		}
		list := []store.QueueEntry{e}
		if err := s.loadRcpts(ctx, func(q string, args ...any) (rowsLike, error) { return t.Query(q, args...) }, list); err != nil {
			return err
		}
		e = list[0]
		return nil
	})
	return e, err
}

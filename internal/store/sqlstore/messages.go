package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// uidRangeSQL returns a condition restricting column uid to set, with
// arguments numbered from argN. Large sets are bounded in SQL and filtered
// exactly by the caller (exact reports whether the SQL alone is exact).
func uidRangeSQL(set store.UIDSet, col string, argN int) (cond string, args []any, exact bool) {
	if len(set) == 0 {
		return "1 = 0", nil, true
	}
	if len(set) > 64 {
		lo, hi := set.Bounds()
		return fmt.Sprintf("%s BETWEEN $%d AND $%d", col, argN, argN+1), []any{lo, hi}, false
	}
	parts := make([]string, len(set))
	for i, r := range set {
		parts[i] = fmt.Sprintf("%s BETWEEN $%d AND $%d", col, argN+2*i, argN+2*i+1)
		args = append(args, r.Start, r.Stop)
	}
	return "(" + strings.Join(parts, " OR ") + ")", args, true
}

// MessageStates implements store.Messages.
func (s *Store) MessageStates(ctx context.Context, mailboxID int64) ([]store.MessageState, error) {
	rows, err := s.query(ctx, `SELECT uid, modseq, sysflags, keywords FROM messages WHERE mailbox_id = $1 ORDER BY uid`, mailboxID)
	if err != nil {
		return nil, unavailable("message states", err)
	}
	defer rows.Close()
	var out []store.MessageState
	for rows.Next() {
		var m store.MessageState
		var bits int
		var kw string
		if err := rows.Scan(&m.UID, &m.ModSeq, &bits, &kw); err != nil {
			return nil, unavailable("message states", err)
		}
		m.Flags = flagList(bits, kw)
		out = append(out, m)
	}
	return out, unavailable("message states", rows.Err())
}

// FetchMessages implements store.Messages.
func (s *Store) FetchMessages(ctx context.Context, mailboxID int64, uids store.UIDSet, opts store.FetchOptions) ([]store.Message, error) {
	cond, args, exact := uidRangeSQL(uids, "m.uid", 2)
	cols := `m.id, m.uid, m.modseq, m.sysflags, m.keywords, m.internal_date, m.size, m.prefix, b.hash, b.size`
	if opts.Meta {
		cols += `, b.subject, b.from_h, b.to_h, b.cc_h, b.bcc_h, b.message_id, b.sent_date, b.header, b.envelope, b.bodystructure`
	}
	rows, err := s.query(ctx, `SELECT `+cols+` FROM messages m JOIN blobs b ON b.id = m.blob_id
		WHERE m.mailbox_id = $1 AND `+cond+` ORDER BY m.uid`, append([]any{mailboxID}, args...)...)
	if err != nil {
		return nil, unavailable("fetch", err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m := store.Message{MailboxID: mailboxID}
		var bits int
		var kw string
		var idate int64
		dest := []any{&m.ID, &m.UID, &m.ModSeq, &bits, &kw, &idate, &m.Size, &m.Prefix, &m.Blob.Hash, &m.Blob.Size}
		var meta store.MessageMeta
		var sent int64
		if opts.Meta {
			dest = append(dest, &meta.Subject, &meta.From, &meta.To, &meta.Cc, &meta.Bcc, &meta.MessageID, &sent,
				&meta.Header, &meta.Envelope, &meta.BodyStructure)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, unavailable("fetch", err)
		}
		if !exact && !uids.Contains(m.UID) {
			continue
		}
		m.Flags = flagList(bits, kw)
		m.InternalDate = fromDateMicros(idate)
		if opts.Meta {
			meta.Date = fromSentMicros(sent)
			m.Meta = &meta
		}
		out = append(out, m)
	}
	return out, unavailable("fetch", rows.Err())
}

// Changes implements store.Messages.
func (s *Store) Changes(ctx context.Context, mailboxID int64, since uint64) (store.MailboxChanges, error) {
	var c store.MailboxChanges
	// One read transaction, so the three queries see the same snapshot.
	tx, err := s.db.BeginTx(ctx, s.d.snapshot)
	if err != nil {
		return c, unavailable("changes", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRow(`SELECT highest_modseq, uidnext FROM mailboxes WHERE id = $1`, mailboxID).Scan(&c.HighestModSeq, &c.UIDNext); err != nil {
		return c, unavailable("changes", notFound(err, "mailbox"))
	}
	rows, err := tx.Query(`SELECT uid, modseq, sysflags, keywords FROM messages WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid`, mailboxID, since)
	if err != nil {
		return c, unavailable("changes", err)
	}
	for rows.Next() {
		var m store.MessageState
		var bits int
		var kw string
		if err := rows.Scan(&m.UID, &m.ModSeq, &bits, &kw); err != nil {
			rows.Close()
			return c, unavailable("changes", err)
		}
		m.Flags = flagList(bits, kw)
		c.Updated = append(c.Updated, m)
	}
	rows.Close()
	c.Expunged, err = queryUIDs(tx, `SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid`, mailboxID, since)
	return c, err
}

// mailboxAccount returns the account of a mailbox and, with PostgreSQL,
// locks the mailbox row until the transaction ends: every change to a
// mailbox's messages starts here, so changes to one mailbox happen one
// after the other, as with SQLite's single writer.
func mailboxAccount(t *wtx, mailboxID int64) (int64, error) {
	var a int64
	err := t.QueryRow(`SELECT account_id FROM mailboxes WHERE id = $1`+t.d.forUpdate, mailboxID).Scan(&a)
	return a, unavailable("mailbox", notFound(err, fmt.Sprintf("mailbox %d", mailboxID)))
}

// checkQuota fails when adding size bytes would exceed the account's quota.
func checkQuota(t *wtx, accountID, size int64) error {
	var quota, used int64
	if err := t.QueryRow(`SELECT quota_bytes, used_bytes FROM accounts WHERE id = $1`, accountID).Scan(&quota, &used); err != nil {
		return unavailable("quota", err)
	}
	if quota > 0 && used+size > quota {
		return fmt.Errorf("%d of %d bytes used, %d more: %w", used, quota, size, store.ErrQuotaExceeded)
	}
	return nil
}

// insertMessages adds messages (already referencing blob rows) to a
// mailbox, allocating consecutive UIDs and one MODSEQ.
func insertMessages(t *wtx, mailboxID, accountID int64, rows []newRow) ([]uint32, uint64, error) {
	var first uint32
	var modseq uint64
	if err := t.QueryRow(`UPDATE mailboxes SET uidnext = uidnext + $1, highest_modseq = highest_modseq + 1
		WHERE id = $2 RETURNING uidnext - $1, highest_modseq`, len(rows), mailboxID).Scan(&first, &modseq); err != nil {
		return nil, 0, unavailable("allocate uid", notFound(err, "mailbox"))
	}
	uids := make([]uint32, len(rows))
	var total int64
	for i, r := range rows {
		uids[i] = first + uint32(i)
		bits, kw := splitFlags(r.flags)
		if _, err := t.Exec(`INSERT INTO messages (mailbox_id, uid, modseq, sysflags, keywords, internal_date, size, blob_id, prefix)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			mailboxID, uids[i], modseq, bits, joinKeywords(kw), r.internalDate, r.size, r.blobID, r.prefix); err != nil {
			return nil, 0, unavailable("insert message", err)
		}
		total += r.size
	}
	if _, err := t.Exec(`UPDATE accounts SET used_bytes = used_bytes + $1 WHERE id = $2`, total, accountID); err != nil {
		return nil, 0, unavailable("insert message", err)
	}
	t.publish(store.Change{Kind: store.MessagesChanged, AccountID: accountID, MailboxID: mailboxID, ModSeq: modseq})
	return uids, modseq, nil
}

type newRow struct {
	blobID       int64
	prefix       []byte
	flags        []string
	internalDate int64
	size         int64
}

// Append implements store.Messages.
func (s *Store) Append(ctx context.Context, mailboxID int64, m store.NewMessage) (store.Appended, error) {
	var out store.Appended
	if m.InternalDate.IsZero() {
		m.InternalDate = s.clock.Now()
	}
	size := int64(len(m.Prefix)) + m.Blob.Size
	err := s.write(ctx, func(t *wtx) error {
		// The blob first: deliveries lock blob, then mailbox rows, too.
		blobID, err := s.upsertBlob(t, m.Blob, m.Meta, 1)
		if err != nil {
			return err
		}
		accountID, err := mailboxAccount(t, mailboxID)
		if err != nil {
			return err
		}
		if err := checkQuota(t, accountID, size); err != nil {
			return err
		}
		uids, _, err := insertMessages(t, mailboxID, accountID, []newRow{{blobID, m.Prefix, m.Flags, dateMicros(m.InternalDate), size}})
		if err != nil {
			return err
		}
		out = store.Appended{AccountID: accountID, MailboxID: mailboxID, UID: uids[0]}
		return nil
	})
	return out, err
}

// UpdateFlags implements store.Messages.
func (s *Store) UpdateFlags(ctx context.Context, mailboxID int64, uids store.UIDSet, op store.FlagOp, flags []string) ([]store.MessageState, error) {
	fbits, fkw := splitFlags(flags)
	var out []store.MessageState
	err := s.write(ctx, func(t *wtx) error {
		out = nil
		accountID, err := mailboxAccount(t, mailboxID)
		if err != nil {
			return err
		}
		cond, args, exact := uidRangeSQL(uids, "uid", 2)
		rows, err := t.Query(`SELECT id, uid, sysflags, keywords FROM messages WHERE mailbox_id = $1 AND `+cond+` ORDER BY uid`,
			append([]any{mailboxID}, args...)...)
		if err != nil {
			return unavailable("store flags", err)
		}
		type change struct {
			id   int64
			uid  uint32
			bits int
			kw   string
		}
		var changes []change
		for rows.Next() {
			var c change
			var bits int
			var kw string
			if err := rows.Scan(&c.id, &c.uid, &bits, &kw); err != nil {
				rows.Close()
				return unavailable("store flags", err)
			}
			if !exact && !uids.Contains(c.uid) {
				continue
			}
			c.bits, c.kw = applyFlags(bits, kw, op, fbits, fkw)
			if c.bits != bits || c.kw != kw {
				changes = append(changes, c)
			}
		}
		rows.Close()
		if len(changes) == 0 {
			return nil
		}
		modseq, err := bumpModSeq(t, mailboxID)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if _, err := t.Exec(`UPDATE messages SET sysflags = $1, keywords = $2, modseq = $3 WHERE id = $4`, c.bits, c.kw, modseq, c.id); err != nil {
				return unavailable("store flags", err)
			}
			out = append(out, store.MessageState{UID: c.uid, ModSeq: modseq, Flags: flagList(c.bits, c.kw)})
		}
		t.publish(store.Change{Kind: store.MessagesChanged, AccountID: accountID, MailboxID: mailboxID, ModSeq: modseq})
		return nil
	})
	return out, err
}

// removeMessages deletes the listed messages of a mailbox, leaving
// tombstones, and returns the UIDs actually removed.
func (s *Store) removeMessages(t *wtx, mailboxID int64, uids []uint32) ([]uint32, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	accountID, err := mailboxAccount(t, mailboxID)
	if err != nil {
		return nil, err
	}
	modseq, err := bumpModSeq(t, mailboxID)
	if err != nil {
		return nil, err
	}
	refs := map[int64]int{}
	var total int64
	var removed []uint32
	for _, uid := range uids {
		var blobID, size int64
		err := t.QueryRow(`DELETE FROM messages WHERE mailbox_id = $1 AND uid = $2 RETURNING blob_id, size`, mailboxID, uid).Scan(&blobID, &size)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, unavailable("remove message", err)
		}
		if _, err := t.Exec(`INSERT INTO expunged (mailbox_id, uid, modseq) VALUES ($1, $2, $3)
			ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq`, mailboxID, uid, modseq); err != nil {
			return nil, unavailable("remove message", err)
		}
		refs[blobID]++
		total += size
		removed = append(removed, uid)
	}
	if _, err := t.Exec(`UPDATE accounts SET used_bytes = used_bytes - $1 WHERE id = $2`, total, accountID); err != nil {
		return nil, unavailable("remove message", err)
	}
	if err := s.unrefBlobs(t, refs); err != nil {
		return nil, err
	}
	t.publish(store.Change{Kind: store.MessagesChanged, AccountID: accountID, MailboxID: mailboxID, ModSeq: modseq})
	return removed, nil
}

// Expunge implements store.Messages.
func (s *Store) Expunge(ctx context.Context, mailboxID int64, uids store.UIDSet) ([]uint32, error) {
	var out []uint32
	err := s.write(ctx, func(t *wtx) error {
		if _, err := mailboxAccount(t, mailboxID); err != nil {
			return err
		}
		deleted, err := queryUIDs(t, `SELECT uid FROM messages WHERE mailbox_id = $1 AND sysflags & $2 <> 0 ORDER BY uid`, mailboxID, flagDeleted)
		if err != nil {
			return err
		}
		if uids != nil {
			kept := deleted[:0]
			for _, u := range deleted {
				if uids.Contains(u) {
					kept = append(kept, u)
				}
			}
			deleted = kept
		}
		out, err = s.removeMessages(t, mailboxID, deleted)
		return err
	})
	return out, err
}

// DeleteMessages implements store.Messages.
func (s *Store) DeleteMessages(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	var out []uint32
	sorted := append([]uint32(nil), uids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	err := s.write(ctx, func(t *wtx) error {
		var err error
		out, err = s.removeMessages(t, mailboxID, sorted)
		return err
	})
	return out, err
}

// selectForTransfer loads the messages of src in uids, for COPY and MOVE.
func selectForTransfer(t *wtx, src int64, uids store.UIDSet) ([]newRow, []uint32, []int64, error) {
	cond, args, exact := uidRangeSQL(uids, "uid", 2)
	rows, err := t.Query(`SELECT id, uid, blob_id, prefix, sysflags, keywords, internal_date, size FROM messages
		WHERE mailbox_id = $1 AND `+cond+` ORDER BY uid`, append([]any{src}, args...)...)
	if err != nil {
		return nil, nil, nil, unavailable("copy", err)
	}
	defer rows.Close()
	var out []newRow
	var srcUIDs []uint32
	var ids []int64
	for rows.Next() {
		var r newRow
		var id int64
		var uid uint32
		var bits int
		var kw string
		if err := rows.Scan(&id, &uid, &r.blobID, &r.prefix, &bits, &kw, &r.internalDate, &r.size); err != nil {
			return nil, nil, nil, unavailable("copy", err)
		}
		if !exact && !uids.Contains(uid) {
			continue
		}
		r.flags = flagList(bits, kw)
		out = append(out, r)
		srcUIDs = append(srcUIDs, uid)
		ids = append(ids, id)
	}
	return out, srcUIDs, ids, unavailable("copy", rows.Err())
}

func sameAccount(t *wtx, src, dst int64) (int64, error) {
	// Lock in id order, so that two transfers in opposite directions do
	// not deadlock.
	first, second := src, dst
	if dst < src {
		first, second = dst, src
	}
	a, err := mailboxAccount(t, first)
	if err != nil {
		return 0, err
	}
	b, err := mailboxAccount(t, second)
	if err != nil {
		return 0, err
	}
	if a != b {
		return 0, fmt.Errorf("copy between accounts: %w", store.ErrNotFound)
	}
	return a, nil
}

// Copy implements store.Messages.
func (s *Store) Copy(ctx context.Context, src int64, uids store.UIDSet, dst int64) ([]store.UIDPair, error) {
	var pairs []store.UIDPair
	err := s.write(ctx, func(t *wtx) error {
		pairs = nil
		accountID, err := sameAccount(t, src, dst)
		if err != nil {
			return err
		}
		rows, srcUIDs, _, err := selectForTransfer(t, src, uids)
		if err != nil || len(rows) == 0 {
			return err
		}
		var total int64
		refs := map[int64]int{}
		for _, r := range rows {
			total += r.size
			refs[r.blobID]++
		}
		if err := checkQuota(t, accountID, total); err != nil {
			return err
		}
		for id, n := range refs {
			if _, err := t.Exec(`UPDATE blobs SET refs = refs + $1 WHERE id = $2`, n, id); err != nil {
				return unavailable("copy", err)
			}
		}
		newUIDs, _, err := insertMessages(t, dst, accountID, rows)
		if err != nil {
			return err
		}
		for i := range newUIDs {
			pairs = append(pairs, store.UIDPair{Src: srcUIDs[i], Dst: newUIDs[i]})
		}
		return nil
	})
	return pairs, err
}

// Move implements store.Messages: the rows change mailbox in one
// transaction, so a message is never in both (RFC 6851).
func (s *Store) Move(ctx context.Context, src int64, uids store.UIDSet, dst int64) ([]store.UIDPair, error) {
	var pairs []store.UIDPair
	err := s.write(ctx, func(t *wtx) error {
		pairs = nil
		accountID, err := sameAccount(t, src, dst)
		if err != nil {
			return err
		}
		// src == dst is allowed: the messages get new UIDs at the end of
		// the mailbox and the old ones are expunged (RFC 6851 §3.3).
		rows, srcUIDs, ids, err := selectForTransfer(t, src, uids)
		if err != nil || len(rows) == 0 {
			return err
		}
		var first uint32
		var dstSeq uint64
		if err := t.QueryRow(`UPDATE mailboxes SET uidnext = uidnext + $1, highest_modseq = highest_modseq + 1
			WHERE id = $2 RETURNING uidnext - $1, highest_modseq`, len(rows), dst).Scan(&first, &dstSeq); err != nil {
			return unavailable("move", err)
		}
		srcSeq, err := bumpModSeq(t, src)
		if err != nil {
			return err
		}
		for i, id := range ids {
			uid := first + uint32(i)
			if _, err := t.Exec(`UPDATE messages SET mailbox_id = $1, uid = $2, modseq = $3 WHERE id = $4`, dst, uid, dstSeq, id); err != nil {
				return unavailable("move", err)
			}
			if _, err := t.Exec(`INSERT INTO expunged (mailbox_id, uid, modseq) VALUES ($1, $2, $3)
				ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq`, src, srcUIDs[i], srcSeq); err != nil {
				return unavailable("move", err)
			}
			pairs = append(pairs, store.UIDPair{Src: srcUIDs[i], Dst: uid})
		}
		t.publish(store.Change{Kind: store.MessagesChanged, AccountID: accountID, MailboxID: src, ModSeq: srcSeq})
		t.publish(store.Change{Kind: store.MessagesChanged, AccountID: accountID, MailboxID: dst, ModSeq: dstSeq})
		return nil
	})
	return pairs, err
}

// LockMaildrop implements store.Messages. An in-process map keeps this
// process's sessions apart, which is all SQLite (one server process)
// needs; with PostgreSQL an advisory lock keeps nodes apart (pgLocker).
func (s *Store) LockMaildrop(ctx context.Context, accountID int64) (func(), error) {
	if _, taken := s.locks.LoadOrStore(accountID, time.Now()); taken {
		return nil, fmt.Errorf("maildrop %d: %w", accountID, store.ErrLocked)
	}
	key := int32(accountID)
	if s.pg != nil {
		ok, err := s.pg.locker.lock(ctx, key)
		if err != nil || !ok {
			s.locks.Delete(accountID)
		}
		if err != nil {
			return nil, unavailable("lock maildrop", err)
		}
		if !ok {
			return nil, fmt.Errorf("maildrop %d (another node): %w", accountID, store.ErrLocked)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if s.pg != nil {
				s.pg.locker.unlock(key)
			}
			s.locks.Delete(accountID)
		})
	}, nil
}

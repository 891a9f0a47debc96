package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// repair fixes what Verify found that can be fixed. Every fix recomputes
// its value inside the write transaction, so it stays right while the
// server keeps delivering.
func (s *Store) repair(ctx context.Context, o VerifyOptions, r *VerifyReport) error {
	for _, p := range r.WrongRefs {
		var msg string
		err := s.write(ctx, func(t *wtx) error {
			var id int64
			var stored, real int
			err := t.QueryRow(`SELECT b.id, b.refs, (SELECT count(*) FROM messages m WHERE m.blob_id = b.id) +
				(SELECT count(*) FROM queue q WHERE q.blob_id = b.id) FROM blobs b WHERE b.hash = $1`, p.Hash).Scan(&id, &stored, &real)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			if stored == real {
				return nil
			}
			if real == 0 {
				// Set to the stored count and drop them all: the row goes,
				// the file goes to the trash like any unreferenced blob.
				msg = fmt.Sprintf("blob %s: reference count %d, no row uses it: removed (file collected after the grace period)", p.Hash, stored)
				return s.unrefBlobs(t, map[int64]int{id: stored})
			}
			msg = fmt.Sprintf("blob %s: reference count %d set to %d", p.Hash, stored, real)
			_, err = t.Exec(`UPDATE blobs SET refs = $1 WHERE id = $2`, real, id)
			return err
		})
		if err != nil {
			return err
		}
		if msg != "" {
			r.Repaired = append(r.Repaired, msg)
		}
	}
	if len(r.UIDs) > 0 {
		var n int64
		err := s.write(ctx, func(t *wtx) error {
			res, err := t.Exec(`UPDATE mailboxes SET uidnext = (SELECT max(m.uid) + 1 FROM messages m WHERE m.mailbox_id = mailboxes.id)
				WHERE uidnext <= (SELECT coalesce(max(m.uid), 0) FROM messages m WHERE m.mailbox_id = mailboxes.id)`)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return err
		}
		if n > 0 {
			r.Repaired = append(r.Repaired, fmt.Sprintf("UIDNEXT raised above the highest UID in %d mailbox(es) (UIDVALIDITY kept: no UID changed)", n))
		}
	}
	if len(r.Sizes) > 0 {
		var n int64
		err := s.write(ctx, func(t *wtx) error {
			sum := `coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = accounts.id), 0)`
			res, err := t.Exec(`UPDATE accounts SET used_bytes = ` + sum + ` WHERE used_bytes <> ` + sum)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return err
		}
		if n > 0 {
			r.Repaired = append(r.Repaired, fmt.Sprintf("used bytes recomputed for %d account(s)", n))
		}
	}
	for i, f := range r.Orphans {
		removed := false
		err := s.write(ctx, func(t *wtx) error {
			var n int
			if err := t.QueryRow(`SELECT count(*) FROM blobs WHERE hash = $1`, f.Hash).Scan(&n); err != nil || n > 0 {
				return err
			}
			var err error
			removed, err = s.blobs.RemoveStale(ctx, f.Hash)
			return err
		})
		if err != nil {
			return err
		}
		if removed {
			r.Orphans[i].Removed = true
			r.Repaired = append(r.Repaired, fmt.Sprintf("orphaned blob file %s (%d bytes, written %s) removed", f.Hash, f.Size, f.ModTime.Format(time.RFC3339)))
		}
	}
	return nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

const mailboxCols = `id, account_id, name, uidvalidity, uidnext, highest_modseq, special_use`

func scanMailbox(row interface{ Scan(...any) error }) (store.Mailbox, error) {
	var m store.Mailbox
	err := row.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse)
	return m, err
}

// createMailbox inserts a mailbox with the account's next UIDVALIDITY.
func createMailbox(t *wtx, accountID int64, name, specialUse string) (store.Mailbox, error) {
	var uidv uint32
	err := t.QueryRow(`UPDATE accounts SET next_uidvalidity = next_uidvalidity + 1 WHERE id = $1
		RETURNING next_uidvalidity - 1`, accountID).Scan(&uidv)
	if err != nil {
		return store.Mailbox{}, unavailable("create mailbox", notFound(err, "account"))
	}
	m := store.Mailbox{AccountID: accountID, Name: name, UIDValidity: uidv, UIDNext: 1, HighestModSeq: 1, SpecialUse: specialUse}
	err = t.QueryRow(`INSERT INTO mailboxes (account_id, name, uidvalidity, special_use) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING RETURNING id`, accountID, name, uidv, specialUse).Scan(&m.ID)
	if err == sql.ErrNoRows {
		return store.Mailbox{}, fmt.Errorf("mailbox %q: %w", name, store.ErrExists)
	}
	if err != nil {
		return store.Mailbox{}, unavailable("create mailbox", err)
	}
	t.publish(store.Change{Kind: store.MailboxesChanged, AccountID: accountID, MailboxID: m.ID})
	return m, nil
}

// Mailboxes implements store.Mailboxes.
func (s *Store) Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, err := s.query(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = $1 ORDER BY name`, accountID)
	if err != nil {
		return nil, unavailable("mailboxes", err)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, unavailable("mailboxes", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("mailboxes", err)
	}
	subs, err := s.Subscriptions(ctx, accountID)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(subs))
	for _, n := range subs {
		set[n] = true
	}
	for i := range out {
		out[i].Subscribed = set[out[i].Name]
	}
	return out, nil
}

// Mailbox implements store.Mailboxes.
func (s *Store) Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	name = store.CanonicalName(name)
	m, err := scanMailbox(s.queryRow(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = $1 AND name = $2`, accountID, name))
	if err != nil {
		return m, unavailable("mailbox", notFound(err, "mailbox "+name))
	}
	var n int
	s.queryRow(ctx, `SELECT count(*) FROM subscriptions WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&n)
	m.Subscribed = n > 0
	return m, nil
}

// MailboxByID implements store.Mailboxes.
func (s *Store) MailboxByID(ctx context.Context, id int64) (store.Mailbox, error) {
	m, err := scanMailbox(s.queryRow(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE id = $1`, id))
	return m, unavailable("mailbox", notFound(err, fmt.Sprintf("mailbox %d", id)))
}

// CreateMailbox implements store.Mailboxes.
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error) {
	name = store.CanonicalName(name)
	if err := store.ValidMailboxName(name); err != nil {
		return store.Mailbox{}, err
	}
	switch specialUse {
	case "", store.SpecialAll, store.SpecialArchive, store.SpecialDrafts, store.SpecialFlagged,
		store.SpecialJunk, store.SpecialSent, store.SpecialTrash:
	default:
		return store.Mailbox{}, fmt.Errorf("special use %q: %w", specialUse, store.ErrInvalidName)
	}
	var m store.Mailbox
	err := s.write(ctx, func(t *wtx) error {
		var err error
		m, err = createMailbox(t, accountID, name, specialUse)
		return err
	})
	return m, err
}

// DeleteMailbox implements store.Mailboxes.
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name = store.CanonicalName(name)
	if store.IsInbox(name) {
		return fmt.Errorf("delete INBOX: %w", store.ErrInvalidName)
	}
	return s.write(ctx, func(t *wtx) error {
		var id int64
		if err := t.QueryRow(`SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`+t.d.forUpdate, accountID, name).Scan(&id); err != nil {
			return unavailable("delete mailbox", notFound(err, "mailbox "+name))
		}
		if err := s.dropMailboxContent(t, id); err != nil {
			return err
		}
		if _, err := t.Exec(`DELETE FROM mailboxes WHERE id = $1`, id); err != nil {
			return unavailable("delete mailbox", err)
		}
		t.publish(store.Change{Kind: store.MailboxesChanged, AccountID: accountID, MailboxID: id})
		return nil
	})
}

// dropMailboxContent removes every message of a mailbox (the mailbox is
// going away: no tombstones).
func (s *Store) dropMailboxContent(t *wtx, mailboxID int64) error {
	rows, err := t.Query(`SELECT blob_id, count(*), sum(size) FROM messages WHERE mailbox_id = $1 GROUP BY blob_id`, mailboxID)
	if err != nil {
		return unavailable("drop mailbox", err)
	}
	refs := map[int64]int{}
	var total int64
	for rows.Next() {
		var blobID, size int64
		var n int
		if err := rows.Scan(&blobID, &n, &size); err != nil {
			rows.Close()
			return unavailable("drop mailbox", err)
		}
		refs[blobID] += n
		total += size
	}
	rows.Close()
	for _, q := range []string{`DELETE FROM messages WHERE mailbox_id = $1`, `DELETE FROM expunged WHERE mailbox_id = $1`} {
		if _, err := t.Exec(q, mailboxID); err != nil {
			return unavailable("drop mailbox", err)
		}
	}
	if _, err := t.Exec(`UPDATE accounts SET used_bytes = used_bytes - $1
		WHERE id = (SELECT account_id FROM mailboxes WHERE id = $2)`, total, mailboxID); err != nil {
		return unavailable("drop mailbox", err)
	}
	return s.unrefBlobs(t, refs)
}

// RenameMailbox implements store.Mailboxes.
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from, to = store.CanonicalName(from), store.CanonicalName(to)
	if err := store.ValidMailboxName(to); err != nil {
		return err
	}
	if store.IsInbox(to) || strings.HasPrefix(to+"/", from+"/") {
		return fmt.Errorf("rename %q to %q: %w", from, to, store.ErrInvalidName)
	}
	return s.write(ctx, func(t *wtx) error {
		src, err := scanMailbox(t.QueryRow(`SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = $1 AND name = $2`+t.d.forUpdate, accountID, from))
		if err != nil {
			return unavailable("rename mailbox", notFound(err, "mailbox "+from))
		}
		var n int
		if err := t.QueryRow(`SELECT count(*) FROM mailboxes WHERE account_id = $1 AND name = $2`, accountID, to).Scan(&n); err != nil {
			return unavailable("rename mailbox", err)
		}
		if n > 0 {
			return fmt.Errorf("mailbox %q: %w", to, store.ErrExists)
		}
		if store.IsInbox(from) {
			return s.renameInbox(t, src, to)
		}
		// Children move along; none of their new names may be taken.
		if err := t.QueryRow(`SELECT count(*) FROM mailboxes a WHERE a.account_id = $1 AND a.name LIKE $2 ESCAPE '\'
			AND EXISTS (SELECT 1 FROM mailboxes b WHERE b.account_id = $1 AND b.name = $3 || substr(a.name, $4))`,
			accountID, likePrefix(from+"/"), to, len(from)+1).Scan(&n); err != nil {
			return unavailable("rename mailbox", err)
		}
		if n > 0 {
			return fmt.Errorf("a child of %q: %w", to, store.ErrExists)
		}
		for _, tbl := range []string{"mailboxes", "subscriptions"} {
			if _, err := t.Exec(`UPDATE `+tbl+` SET name = $1 || substr(name, $2)
				WHERE account_id = $3 AND (name = $4 OR name LIKE $5 ESCAPE '\')`,
				to, len(from)+1, accountID, from, likePrefix(from+"/")); err != nil {
				return unavailable("rename mailbox", err)
			}
		}
		t.publish(store.Change{Kind: store.MailboxesChanged, AccountID: accountID, MailboxID: src.ID})
		return nil
	})
}

// renameInbox implements RFC 9051 6.3.6: the messages of INBOX move to a
// new mailbox; INBOX stays, empty, and its children do not move.
func (s *Store) renameInbox(t *wtx, inbox store.Mailbox, to string) error {
	dst, err := createMailbox(t, inbox.AccountID, to, "")
	if err != nil {
		return err
	}
	uids, err := queryUIDs(t, `SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid`, inbox.ID)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	// UIDs stay as they are: unique in the new mailbox, which takes over
	// INBOX's UIDNEXT. INBOX keeps a tombstone for each.
	modseq, err := bumpModSeq(t, inbox.ID)
	if err != nil {
		return err
	}
	if _, err := t.Exec(`UPDATE messages SET mailbox_id = $1, modseq = $2 WHERE mailbox_id = $3`, dst.ID, modseq, inbox.ID); err != nil {
		return unavailable("rename inbox", err)
	}
	if _, err := t.Exec(`UPDATE mailboxes SET uidnext = $1, highest_modseq = $2 WHERE id = $3`, inbox.UIDNext, modseq, dst.ID); err != nil {
		return unavailable("rename inbox", err)
	}
	for _, uid := range uids {
		if _, err := t.Exec(`INSERT INTO expunged (mailbox_id, uid, modseq) VALUES ($1, $2, $3)
			ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq`, inbox.ID, uid, modseq); err != nil {
			return unavailable("rename inbox", err)
		}
	}
	t.publish(store.Change{Kind: store.MessagesChanged, AccountID: inbox.AccountID, MailboxID: inbox.ID, ModSeq: modseq})
	return nil
}

func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// SetSubscribed implements store.Mailboxes.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error {
	name = store.CanonicalName(name)
	return s.write(ctx, func(t *wtx) error {
		var err error
		if on {
			if err := store.ValidMailboxName(name); err != nil {
				return err
			}
			_, err = t.Exec(`INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, accountID, name)
		} else {
			_, err = t.Exec(`DELETE FROM subscriptions WHERE account_id = $1 AND name = $2`, accountID, name)
		}
		t.publish(store.Change{Kind: store.MailboxesChanged, AccountID: accountID})
		return unavailable("subscribe", err)
	})
}

// Subscriptions implements store.Mailboxes.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.query(ctx, `SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name`, accountID)
	if err != nil {
		return nil, unavailable("subscriptions", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, unavailable("subscriptions", err)
		}
		out = append(out, n)
	}
	return out, unavailable("subscriptions", rows.Err())
}

// MailboxStatus implements store.Mailboxes.
func (s *Store) MailboxStatus(ctx context.Context, mailboxID int64) (store.MailboxStatus, error) {
	var st store.MailboxStatus
	mb, err := s.MailboxByID(ctx, mailboxID)
	if err != nil {
		return st, err
	}
	st.Mailbox = mb
	err = s.queryRow(ctx, `SELECT count(*),
		coalesce(sum(CASE WHEN sysflags & $2 = 0 THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN sysflags & $3 <> 0 THEN 1 ELSE 0 END), 0),
		coalesce(sum(size), 0)
		FROM messages WHERE mailbox_id = $1`, mailboxID, flagSeen, flagDeleted).
		Scan(&st.Messages, &st.Unseen, &st.Deleted, &st.Size)
	return st, unavailable("mailbox status", err)
}

func queryUIDs(t interface {
	Query(string, ...any) (*sql.Rows, error)
}, q string, args ...any) ([]uint32, error) {
	rows, err := t.Query(q, args...)
	if err != nil {
		return nil, unavailable("uids", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, unavailable("uids", err)
		}
		out = append(out, u)
	}
	return out, unavailable("uids", rows.Err())
}

// bumpModSeq allocates the next MODSEQ of a mailbox.
func bumpModSeq(t *wtx, mailboxID int64) (uint64, error) {
	var m uint64
	err := t.QueryRow(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq`, mailboxID).Scan(&m)
	return m, unavailable("modseq", notFound(err, "mailbox"))
}

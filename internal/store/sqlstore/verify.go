package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Repair fixes what can be fixed: reference counts, UIDNEXT below a
	// UID, used bytes of accounts, and orphaned blob files older than Grace.
	Repair bool
	// Quick checks that blob files exist with the right size, without
	// hashing their content.
	Quick bool
	// Grace is how old an unreferenced blob file must be to count as an
	// orphan (younger ones may belong to a delivery in progress). Default:
	// the store's blob grace period (10 minutes).
	Grace time.Duration
	// Workers hash blobs in parallel (default 4).
	Workers int
	// Progress, when set, is called after each blob file is checked.
	Progress func(bytes int64)
}

// VerifyReport is what Verify found (and repaired).
type VerifyReport struct {
	Blobs, BlobBytes       int64 // blob rows and their total size
	Messages, QueueEntries int64
	Mailboxes, Accounts    int64
	Files                  int64 // blob files seen

	Missing   []BlobProblem // a row without its file
	Corrupt   []BlobProblem // a file whose content does not match its name or size
	WrongRefs []RefProblem
	// Dangling are message or queue rows whose blob row is gone.
	Dangling []string
	UIDs     []string // UID ≥ UIDNEXT, UID 0, duplicate UIDs
	Sizes    []string // message size ≠ prefix + blob; account used bytes wrong
	Orphans  []OrphanFile
	// RecentUnreferenced counts files with no row that are younger than
	// the grace period: deliveries in progress, not orphans (yet).
	RecentUnreferenced int
	// Lost lists the messages and queue entries whose content is missing
	// or damaged: mail that cannot be repaired from this server's data.
	Lost     []LostMessage
	Repaired []string
}

// BlobProblem is a blob whose file is missing or damaged.
type BlobProblem struct {
	Hash   string
	Size   int64 // from the row
	Detail string
}

// RefProblem is a blob whose reference count is wrong.
type RefProblem struct {
	Hash         string
	Stored, Real int
}

// OrphanFile is a blob file no row refers to.
type OrphanFile struct {
	Hash    string
	Size    int64
	ModTime time.Time
	Removed bool
}

// LostMessage is a message (or queue entry) whose blob is missing or damaged.
type LostMessage struct {
	Account, Mailbox string // "" for a queue entry
	UID              uint32
	QueueID          int64
	Subject          string
	MessageID        string
	Hash             string
}

func (l LostMessage) String() string {
	if l.QueueID != 0 {
		return fmt.Sprintf("queue entry %d (Message-ID %s, subject %q, blob %s)", l.QueueID, l.MessageID, l.Subject, l.Hash)
	}
	return fmt.Sprintf("%s %s UID %d (Message-ID %s, subject %q, blob %s)", l.Account, l.Mailbox, l.UID, l.MessageID, l.Subject, l.Hash)
}

// OK reports whether nothing is wrong (orphans that were removed and
// repaired problems still count: the report says what was found).
func (r *VerifyReport) OK() bool {
	return len(r.Missing) == 0 && len(r.Corrupt) == 0 && len(r.WrongRefs) == 0 && len(r.Dangling) == 0 &&
		len(r.UIDs) == 0 && len(r.Sizes) == 0 && len(r.Orphans) == 0
}

// Unrepairable reports whether some mail is lost or damaged beyond what
// Repair can fix.
func (r *VerifyReport) Unrepairable() bool {
	return len(r.Missing) > 0 || len(r.Corrupt) > 0 || len(r.Dangling) > 0
}

type blobRow struct {
	id   int64
	hash string
	size int64
	refs int
}

// Verify checks the live data: every blob row has its file, whose SHA-256
// and size match; reference counts equal the message and queue rows that
// use each blob; every UID is below its mailbox's UIDNEXT and unique; sizes
// add up; and it lists blob files no row refers to. The database part is
// read in one read transaction (a consistent snapshot) while the server
// keeps running. Nothing changes unless o.Repair.
func (s *Store) Verify(ctx context.Context, o VerifyOptions) (*VerifyReport, error) {
	if o.Grace <= 0 {
		o.Grace = s.grace
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	r := &VerifyReport{}
	rows, err := s.verifyDatabase(ctx, r)
	if err != nil {
		return r, fmt.Errorf("sqlstore: verify: %w", err)
	}
	if err := s.verifyFiles(ctx, o, r, rows); err != nil {
		return r, fmt.Errorf("sqlstore: verify: %w", err)
	}
	if err := s.listLost(ctx, r); err != nil {
		return r, fmt.Errorf("sqlstore: verify: %w", err)
	}
	if o.Repair {
		if err := s.repair(ctx, o, r); err != nil {
			return r, fmt.Errorf("sqlstore: repair: %w", err)
		}
	}
	return r, nil
}

// verifyDatabase runs the SQL checks in one read transaction and returns
// the blob rows.
func (s *Store) verifyDatabase(ctx context.Context, r *VerifyReport) (map[string]blobRow, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, c := range []struct {
		n *int64
		q string
	}{
		{&r.Messages, `SELECT count(*) FROM messages`},
		{&r.QueueEntries, `SELECT count(*) FROM queue`},
		{&r.Mailboxes, `SELECT count(*) FROM mailboxes`},
		{&r.Accounts, `SELECT count(*) FROM accounts`},
	} {
		if err := tx.QueryRowContext(ctx, c.q).Scan(c.n); err != nil {
			return nil, err
		}
	}
	blobs := map[string]blobRow{}
	// Reference counts: rows using each blob, from messages and queue.
	q, err := tx.QueryContext(ctx, `SELECT b.id, b.hash, b.size, b.refs,
		(SELECT count(*) FROM messages m WHERE m.blob_id = b.id) + (SELECT count(*) FROM queue q WHERE q.blob_id = b.id)
		FROM blobs b ORDER BY b.hash`)
	if err != nil {
		return nil, err
	}
	for q.Next() {
		var b blobRow
		var real int
		if err := q.Scan(&b.id, &b.hash, &b.size, &b.refs, &real); err != nil {
			q.Close()
			return nil, err
		}
		blobs[b.hash] = b
		r.Blobs++
		r.BlobBytes += b.size
		if real != b.refs {
			r.WrongRefs = append(r.WrongRefs, RefProblem{Hash: b.hash, Stored: b.refs, Real: real})
		}
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, err
	}
	checks := []struct {
		into *[]string
		q    string
	}{
		{&r.Dangling, `SELECT 'message ' || m.id || ' (mailbox ' || m.mailbox_id || ', UID ' || m.uid || ') refers to missing blob row ' || m.blob_id
			FROM messages m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = m.blob_id)`},
		{&r.Dangling, `SELECT 'queue entry ' || q.id || ' refers to missing blob row ' || q.blob_id
			FROM queue q WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = q.blob_id)`},
		{&r.UIDs, `SELECT 'mailbox ' || a.address || ' ' || x.name || ': UID ' || m.uid || ' is not below UIDNEXT ' || x.uidnext
			FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN accounts a ON a.id = x.account_id
			WHERE m.uid >= x.uidnext ORDER BY x.id, m.uid`},
		{&r.UIDs, `SELECT 'mailbox ' || a.address || ' ' || x.name || ': UID 0 on message ' || m.id
			FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN accounts a ON a.id = x.account_id WHERE m.uid = 0`},
		{&r.UIDs, `SELECT 'mailbox ' || m.mailbox_id || ': UID ' || m.uid || ' used ' || count(*) || ' times'
			FROM messages m GROUP BY m.mailbox_id, m.uid HAVING count(*) > 1`},
		{&r.Sizes, `SELECT 'message ' || m.id || ' (mailbox ' || m.mailbox_id || ', UID ' || m.uid || '): size ' || m.size ||
			' but prefix + blob = ' || (coalesce(length(m.prefix), 0) + b.size)
			FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.size <> coalesce(length(m.prefix), 0) + b.size`},
		{&r.Sizes, `SELECT 'account ' || a.address || ': used bytes ' || a.used_bytes || ' but its messages hold ' ||
			coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id), 0)
			FROM accounts a WHERE a.used_bytes <> coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id), 0)`},
	}
	for _, c := range checks {
		rows, err := tx.QueryContext(ctx, c.q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				rows.Close()
				return nil, err
			}
			*c.into = append(*c.into, line)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return blobs, nil
}

// verifyFiles checks every blob row's file and lists files without a row.
func (s *Store) verifyFiles(ctx context.Context, o VerifyOptions, r *VerifyReport, rows map[string]blobRow) error {
	seen := map[string]bool{}
	cutoff := time.Now().Add(-o.Grace) // file mtimes are wall-clock times
	err := s.blobs.Walk(ctx, func(hash string, size int64, mod time.Time) error {
		r.Files++
		if _, ok := rows[hash]; ok {
			seen[hash] = true
			return nil
		}
		if mod.After(cutoff) {
			r.RecentUnreferenced++
			return nil
		}
		r.Orphans = append(r.Orphans, OrphanFile{Hash: hash, Size: size, ModTime: mod})
		return nil
	})
	if err != nil {
		return err
	}
	// Orphans seen by the walk may have got a row since our snapshot.
	kept := r.Orphans[:0]
	for _, f := range r.Orphans {
		var n int
		if err := s.queryRow(ctx, `SELECT count(*) FROM blobs WHERE hash = $1`, f.Hash).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			kept = append(kept, f)
		}
	}
	r.Orphans = kept

	hashes := make([]string, 0, len(rows))
	for h := range rows {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	var mu sync.Mutex
	work := make(chan blobRow)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				p := s.checkBlob(ctx, b, seen[b.hash], o.Quick)
				if o.Progress != nil {
					o.Progress(b.size)
				}
				if p == nil {
					continue
				}
				mu.Lock()
				if p.Detail == "missing" {
					r.Missing = append(r.Missing, *p)
				} else {
					r.Corrupt = append(r.Corrupt, *p)
				}
				mu.Unlock()
			}
		}()
	}
	for _, h := range hashes {
		select {
		case work <- rows[h]:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	// A file missing now whose row is gone too was collected after our
	// snapshot (its last message was removed): not a problem.
	kept2 := r.Missing[:0]
	for _, m := range r.Missing {
		var n int
		if err := s.queryRow(ctx, `SELECT count(*) FROM blobs WHERE hash = $1`, m.Hash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			kept2 = append(kept2, m)
		}
	}
	r.Missing = kept2
	sort.Slice(r.Missing, func(i, j int) bool { return r.Missing[i].Hash < r.Missing[j].Hash })
	sort.Slice(r.Corrupt, func(i, j int) bool { return r.Corrupt[i].Hash < r.Corrupt[j].Hash })
	return nil
}

// checkBlob returns the problem of one blob's file, or nil.
func (s *Store) checkBlob(ctx context.Context, b blobRow, walked, quick bool) *BlobProblem {
	rd, err := s.blobs.Open(ctx, b.hash)
	if errors.Is(err, store.ErrNotFound) {
		return &BlobProblem{Hash: b.hash, Size: b.size, Detail: "missing"}
	}
	if err != nil {
		return &BlobProblem{Hash: b.hash, Size: b.size, Detail: err.Error()}
	}
	defer rd.Close()
	if rd.Size() != b.size {
		return &BlobProblem{Hash: b.hash, Size: b.size, Detail: fmt.Sprintf("file has %d bytes, row says %d", rd.Size(), b.size)}
	}
	if quick {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		return &BlobProblem{Hash: b.hash, Size: b.size, Detail: "read: " + err.Error()}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.hash {
		return &BlobProblem{Hash: b.hash, Size: b.size, Detail: "content has SHA-256 " + got}
	}
	return nil
}

// listLost names the messages and queue entries of missing or corrupt blobs.
func (s *Store) listLost(ctx context.Context, r *VerifyReport) error {
	var bad []string
	for _, p := range r.Missing {
		bad = append(bad, p.Hash)
	}
	for _, p := range r.Corrupt {
		bad = append(bad, p.Hash)
	}
	for _, h := range bad {
		rows, err := s.query(ctx, `SELECT a.address, x.name, m.uid, b.subject, b.message_id
			FROM messages m JOIN blobs b ON b.id = m.blob_id JOIN mailboxes x ON x.id = m.mailbox_id
			JOIN accounts a ON a.id = x.account_id WHERE b.hash = $1 ORDER BY a.address, x.name, m.uid`, h)
		if err != nil {
			return err
		}
		for rows.Next() {
			l := LostMessage{Hash: h}
			if err := rows.Scan(&l.Account, &l.Mailbox, &l.UID, &l.Subject, &l.MessageID); err != nil {
				rows.Close()
				return err
			}
			r.Lost = append(r.Lost, l)
		}
		rows.Close()
		rows, err = s.query(ctx, `SELECT q.id, b.subject, b.message_id FROM queue q JOIN blobs b ON b.id = q.blob_id
			WHERE b.hash = $1 ORDER BY q.id`, h)
		if err != nil {
			return err
		}
		for rows.Next() {
			l := LostMessage{Hash: h}
			if err := rows.Scan(&l.QueueID, &l.Subject, &l.MessageID); err != nil {
				rows.Close()
				return err
			}
			r.Lost = append(r.Lost, l)
		}
		rows.Close()
	}
	return nil
}

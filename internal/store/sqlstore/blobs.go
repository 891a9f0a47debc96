package sqlstore

import (
	"context"
	"fmt"

	"github.com/kantorpos/kantorpos/internal/store"
)

// upsertBlob records n more references to a blob and returns its row id. A
// new row gets the parsed metadata and a full-text index entry.
func (s *Store) upsertBlob(t *wtx, ref store.BlobRef, meta *store.MessageMeta, n int) (int64, error) {
	if meta == nil {
		meta = &store.MessageMeta{}
	}
	var id int64
	var refs int
	err := t.QueryRow(`INSERT INTO blobs (hash, size, refs, created, subject, from_h, to_h, cc_h, bcc_h,
			message_id, sent_date, header, envelope, bodystructure)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (hash) DO UPDATE SET refs = blobs.refs + excluded.refs
		RETURNING id, refs`,
		ref.Hash, ref.Size, n, s.now(), clip(meta.Subject), clip(meta.From), clip(meta.To), clip(meta.Cc), clip(meta.Bcc),
		clip(meta.MessageID), sentMicros(meta.Date), meta.Header, meta.Envelope, meta.BodyStructure).Scan(&id, &refs)
	if err != nil {
		return 0, unavailable("store blob", err)
	}
	if refs == n { // new row
		if _, err := t.Exec(t.d.ftsInsert, append([]any{id}, t.d.ftsArgs(meta.Header, meta.Text)...)...); err != nil {
			return 0, unavailable("index blob", err)
		}
		if _, err := t.Exec(`DELETE FROM blob_trash WHERE hash = $1`, ref.Hash); err != nil {
			return 0, unavailable("store blob", err)
		}
	}
	return id, nil
}

// clip bounds a header value kept for SEARCH.
func clip(s string) string {
	const max = 4096
	if len(s) > max {
		return s[:max]
	}
	return s
}

// unrefBlobs drops references (blob id → count). Blobs left without any go
// to the trash, from which the collector removes their files later.
func (s *Store) unrefBlobs(t *wtx, refs map[int64]int) error {
	for id, n := range refs {
		var left int
		var hash string
		if err := t.QueryRow(`UPDATE blobs SET refs = refs - $1 WHERE id = $2 RETURNING refs, hash`, n, id).Scan(&left, &hash); err != nil {
			return unavailable("unref blob", err)
		}
		if left > 0 {
			continue
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{t.d.ftsDelete, []any{id}},
			{`DELETE FROM blobs WHERE id = $1`, []any{id}},
			{`INSERT INTO blob_trash (hash, trashed) VALUES ($1, $2) ON CONFLICT (hash) DO UPDATE SET trashed = excluded.trashed`, []any{hash, s.now()}},
		} {
			if _, err := t.Exec(q.sql, q.args...); err != nil {
				return unavailable("drop blob", err)
			}
		}
	}
	return nil
}

// SetMeta implements store.Messages.
func (s *Store) SetMeta(ctx context.Context, blobHash string, meta *store.MessageMeta) error {
	return s.write(ctx, func(t *wtx) error {
		var id int64
		if err := t.QueryRow(`SELECT id FROM blobs WHERE hash = $1`, blobHash).Scan(&id); err != nil {
			return unavailable("set meta", notFound(err, "blob "+blobHash))
		}
		if _, err := t.Exec(`UPDATE blobs SET subject = $1, from_h = $2, to_h = $3, cc_h = $4, bcc_h = $5, message_id = $6,
			sent_date = $7, header = $8, envelope = $9, bodystructure = $10 WHERE id = $11`,
			clip(meta.Subject), clip(meta.From), clip(meta.To), clip(meta.Cc), clip(meta.Bcc), clip(meta.MessageID),
			sentMicros(meta.Date), meta.Header, meta.Envelope, meta.BodyStructure, id); err != nil {
			return unavailable("set meta", err)
		}
		if _, err := t.Exec(t.d.ftsDelete, id); err != nil {
			return unavailable("set meta", err)
		}
		if _, err := t.Exec(t.d.ftsInsert, append([]any{id}, t.d.ftsArgs(meta.Header, meta.Text)...)...); err != nil {
			return unavailable("set meta", err)
		}
		return nil
	})
}

// content is a message: per-recipient prefix followed by the blob.
type content struct {
	prefix []byte
	blob   interface {
		ReadAt([]byte, int64) (int, error)
		Close() error
		Size() int64
	}
	off int64
}

func (c *content) Size() int64 { return int64(len(c.prefix)) + c.blob.Size() }

func (c *content) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(c.prefix)) {
		n = copy(p, c.prefix[off:])
		if n == len(p) {
			return n, nil
		}
	}
	m, err := c.blob.ReadAt(p[n:], off+int64(n)-int64(len(c.prefix)))
	return n + m, err
}

func (c *content) Read(p []byte) (int, error) {
	n, err := c.ReadAt(p, c.off)
	c.off += int64(n)
	if err != nil && n > 0 && c.off < c.Size() {
		err = nil
	}
	return n, err
}

func (c *content) Close() error { return c.blob.Close() }

// OpenMessage implements store.Messages.
func (s *Store) OpenMessage(ctx context.Context, m *store.Message) (store.Content, error) {
	r, err := s.blobs.Open(ctx, m.Blob.Hash)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open message uid %d: %w", m.UID, err)
	}
	return &content{prefix: m.Prefix, blob: r}, nil
}

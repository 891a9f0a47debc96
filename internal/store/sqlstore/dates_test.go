package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
)

// TestDateMicrosMigration: a database written with dates in nanoseconds
// (before migration 0006) keeps its messages' internal and sent dates.
func TestDateMicrosMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, _ := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	path := filepath.Join(dir, "k.db")
	s, err := Open(ctx, Options{Path: path, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	s.AddDomain(ctx, "example.test")
	a, _ := s.CreateAccount(ctx, "u@example.test", "h")
	inbox, _ := s.Mailbox(ctx, a.ID, "INBOX")
	when := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	sent := time.Date(2025, 6, 6, 23, 0, 0, 0, time.UTC)
	meta := storetest.Meta("old", "text")
	meta.Date = sent
	if _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: storetest.PutBlob(t, blobs, storetest.Msg("old", "text")),
		Meta: meta, InternalDate: when}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Turn the database back into the pre-0006 form: nanoseconds, 0006 not applied.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE messages SET internal_date = internal_date * 1000`,
		`UPDATE blobs SET sent_date = sent_date * 1000`,
		`DELETE FROM schema_migrations WHERE version = 6`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s2, err := Open(ctx, Options{Path: path, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	msgs, err := s2.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %d", err, len(msgs))
	}
	if !msgs[0].InternalDate.Equal(when) || !msgs[0].Meta.Date.Equal(sent) {
		t.Fatalf("after migration: internal %v sent %v, want %v %v", msgs[0].InternalDate, msgs[0].Meta.Date, when, sent)
	}
}

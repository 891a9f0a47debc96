package sqlstore

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

// With the database down, every store operation fails at once with
// ErrUnavailable (SMTP 451, IMAP NO [UNAVAILABLE]); when it is back, the
// stores work again by themselves and the other node hears changes again.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	fc := newFakeClock()
	a := openPG(t, c.DSN("postgres"), fc, Options{})
	b := openPG(t, c.DSN("postgres"), fc, Options{})
	mustT(t, a.AddDomain(ctx, "example.test"))
	acc, err := a.CreateAccount(ctx, "u@example.test", "h")
	mustT(t, err)
	inbox, err := a.Mailbox(ctx, acc.ID, "INBOX")
	mustT(t, err)
	ref := storetest.PutBlob(t, a.Blobs(), storetest.Msg("before", "x"))
	_, err = a.Append(ctx, inbox.ID, store.NewMessage{Blob: ref})
	mustT(t, err)
	msgs, err := a.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{})
	mustT(t, err)

	ops := []outageOp{
		{"Account", func(s *Store) error { _, err := s.Account(ctx, "u@example.test"); return err }},
		{"Mailbox", func(s *Store) error { _, err := s.Mailbox(ctx, acc.ID, "INBOX"); return err }},
		{"MessageStates", func(s *Store) error { _, err := s.MessageStates(ctx, inbox.ID); return err }},
		{"FetchMessages", func(s *Store) error {
			_, err := s.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
			return err
		}},
		{"Changes", func(s *Store) error { _, err := s.Changes(ctx, inbox.ID, 0); return err }},
		{"Search", func(s *Store) error {
			_, err := s.Search(ctx, inbox.ID, &store.SearchCriteria{Body: []string{"x"}})
			return err
		}},
		{"OpenMessage", func(s *Store) error {
			c, err := s.OpenMessage(ctx, &msgs[0])
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = io.ReadAll(c)
			return err
		}},
		{"BlobCommit", func(s *Store) error {
			w, err := s.Blobs().Create(ctx)
			if err != nil {
				return err
			}
			io.WriteString(w, storetest.Msg("during", "x"))
			_, err = w.Commit(ctx)
			return err
		}},
		{"Append", func(s *Store) error { _, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref}); return err }},
		{"Deliver", func(s *Store) error {
			_, err := s.Deliver(ctx, &store.Delivery{Blob: ref, Local: []store.LocalDelivery{{AccountID: acc.ID}},
				Remote: &store.Outbound{From: "u@example.test", Rcpts: []store.OutRcpt{{Addr: "x@remote.test"}}}})
			return err
		}},
		{"UpdateFlags", func(s *Store) error {
			_, err := s.UpdateFlags(ctx, inbox.ID, store.AllUIDs, store.FlagsAdd, []string{"kw" + s.pg.node})
			return err
		}},
		{"LeaseQueue", func(s *Store) error { _, err := s.LeaseQueue(ctx, fc.Now(), s.pg.node, time.Minute, 10); return err }},
		{"NextQueueAttempt", func(s *Store) error { _, _, err := s.NextQueueAttempt(ctx); return err }},
		{"LockMaildrop", func(s *Store) error {
			release, err := s.LockMaildrop(ctx, acc.ID)
			if err == nil {
				release()
			}
			return err
		}},
	}

	mustT(t, c.Stop())
	var slowest time.Duration
	for _, op := range ops {
		start := time.Now()
		err := op.do(a)
		slowest = max(slowest, time.Since(start))
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the database down: %v, want ErrUnavailable", op.name, err)
		}
	}
	t.Logf("with the database down, the slowest operation failed after %v", slowest)
	if _, err := Open(ctx, Options{Driver: "postgres", DSN: c.DSN("postgres")}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open with the database down: %v, want ErrUnavailable", err)
	}

	sub := b.Subscribe()
	defer sub.Close()
	mustT(t, c.Start())
	restarted := time.Now()
	// The first operation may still meet a connection from before the
	// outage; the stores recover by themselves within moments.
	deadline := time.Now().Add(30 * time.Second)
	for runOps(a, ops) != nil || runOps(b, ops) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not recovered: node A: %v; node B: %v", runOps(a, ops), runOps(b, ops))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("every operation succeeded on both nodes %v after the restart", time.Since(restarted))
	waitChange(t, sub, "Resync on node B after the outage", func(c store.Change) bool { return c.Kind == store.Resync })
	for {
		_, err := a.UpdateFlags(ctx, inbox.ID, store.AllUIDs, store.FlagsAdd, []string{"after" + time.Now().Format("150405.000000")})
		mustT(t, err)
		var got store.Change
		select {
		case got = <-sub.C:
		case <-time.After(100 * time.Millisecond):
		}
		if got.Kind == store.MessagesChanged && got.MailboxID == inbox.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B does not hear node A after the outage")
		}
	}
}

type outageOp struct {
	name string
	do   func(s *Store) error
}

// runOps runs every operation on s and returns the first error.
func runOps(s *Store, ops []outageOp) error {
	for _, op := range ops {
		if err := op.do(s); err != nil {
			return errors.New(op.name + ": " + err.Error())
		}
	}
	return nil
}

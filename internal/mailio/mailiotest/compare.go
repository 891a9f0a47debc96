// Package mailiotest compares an account in our store with what Dovecot
// says over IMAP, for the import tests.
package mailiotest

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/mailio/dovecottest"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Store is what Compare reads.
type Store interface {
	Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error)
	FetchMessages(ctx context.Context, mailboxID int64, uids store.UIDSet, opts store.FetchOptions) ([]store.Message, error)
}

// Compare checks that every Dovecot folder has its mailbox (local maps a
// Dovecot folder to our name) holding exactly its messages, matched by
// Message-ID, with equal flags and sizes. It returns the number of
// messages compared.
func Compare(t *testing.T, st Store, accountID int64, want []dovecottest.Folder, local func(dovecottest.Folder) string) int {
	t.Helper()
	ctx := context.Background()
	mbs, err := st.Mailboxes(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.Mailbox{}
	for _, m := range mbs {
		byName[m.Name] = m
	}
	n := 0
	for _, f := range want {
		name := local(f)
		mb, ok := byName[name]
		if !ok {
			t.Errorf("Dovecot folder %q: no mailbox %q (have %v)", f.Name, name, keys(byName))
			continue
		}
		msgs, err := st.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{Meta: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(f.Messages) {
			t.Errorf("folder %q: %d messages, Dovecot has %d", name, len(msgs), len(f.Messages))
		}
		ours := map[string]store.Message{}
		for _, m := range msgs {
			id := m.Meta.MessageID
			if _, dup := ours[id]; dup {
				t.Errorf("folder %q: Message-ID %s twice", name, id)
			}
			ours[id] = m
		}
		for _, dm := range f.Messages {
			m, ok := ours[dm.MessageID]
			if !ok {
				t.Errorf("folder %q: message %s missing", name, dm.MessageID)
				continue
			}
			n++
			if m.Size != dm.Size {
				t.Errorf("folder %q, %s: size %d, Dovecot says %d", name, dm.MessageID, m.Size, dm.Size)
			}
			if a, b := norm(m.Flags), norm(dm.Flags); a != b {
				t.Errorf("folder %q, %s: flags %s, Dovecot says %s", name, dm.MessageID, a, b)
			}
		}
	}
	return n
}

func norm(flags []string) string {
	var out []string
	for _, f := range flags {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, strings.ToLower(f))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func keys(m map[string]store.Mailbox) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

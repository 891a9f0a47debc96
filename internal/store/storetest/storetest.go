// Package storetest is the conformance suite every store.Store
// implementation passes: SQLite and PostgreSQL run the same tests.
package storetest

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Env is one fresh, empty store with its blob store and clock.
type Env struct {
	Store store.Store
	Blobs blob.Store
	Clock *clock.Fake
}

// Factory makes a fresh Env for one test; it registers its own cleanup.
type Factory func(t *testing.T) Env

// Run runs the whole suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Env)
	}{
		{"Domains", testDomains},
		{"Accounts", testAccounts},
		{"Aliases", testAliases},
		{"DKIMKeys", testDKIMKeys},
		{"MailboxCreateDelete", testMailboxCreateDelete},
		{"MailboxRename", testMailboxRename},
		{"RenameInbox", testRenameInbox},
		{"Subscriptions", testSubscriptions},
		{"DeliverLocalAndRemote", testDeliver},
		{"DeliverSpecialUse", testDeliverSpecialUse},
		{"AppendFetchOpen", testAppendFetchOpen},
		{"Flags", testFlags},
		{"ExpungeAndUIDs", testExpunge},
		{"CopyMove", testCopyMove},
		{"Changes", testChanges},
		{"ChangeEvents", testChangeEvents},
		{"Quota", testQuota},
		{"DeleteAccount", testDeleteAccount},
		{"Search", testSearch},
		{"DateRange", testDateRange},
		{"QueueLease", testQueueLease},
		{"QueueAttempts", testQueueAttempts},
		{"QueueAdmin", testQueueAdmin},
		{"ConcurrentDeliveries", testConcurrentDeliveries},
		{"MaildropLock", testMaildropLock},
		{"AdminFlag", testAdminFlag},
		{"APITokens", testAPITokens},
		{"AccountSettings", testAccountSettings},
		{"QueueStats", testQueueStats},
		{"SieveScripts", testSieveScripts},
		{"VacationReply", testVacationReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, f(t))
		})
	}
}

var ctx = context.Background()

// PutBlob writes content to the blob store.
func PutBlob(t testing.TB, b blob.Store, content string) store.BlobRef {
	t.Helper()
	w, err := b.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Msg builds a small message.
func Msg(subject, body string) string {
	return "From: Alice <alice@ext.test>\r\nTo: bob@example.test\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@ext.test>\r\n\r\n" + body + "\r\n"
}

// Meta is a minimal parse of what Msg builds.
func Meta(subject, body string) *store.MessageMeta {
	return &store.MessageMeta{
		Subject: subject, From: "Alice <alice@ext.test>", To: "bob@example.test",
		MessageID: "<" + strings.ReplaceAll(subject, " ", ".") + "@ext.test>",
		Date:      time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC),
		Header:    "From: Alice <alice@ext.test>\r\nTo: bob@example.test\r\nSubject: " + subject + "\r\nX-Tag: tagged\r\n",
		Text:      body,
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// account makes domain example.test (if needed) and an account.
func account(t testing.TB, e Env, addr string) store.Account {
	t.Helper()
	d := addr[strings.IndexByte(addr, '@')+1:]
	if ok, _ := e.Store.HasDomain(ctx, d); !ok {
		must(t, e.Store.AddDomain(ctx, d))
	}
	a, err := e.Store.CreateAccount(ctx, addr, "$argon2id$test")
	must(t, err)
	return a
}

func mailbox(t testing.TB, e Env, accountID int64, name string) store.Mailbox {
	t.Helper()
	m, err := e.Store.Mailbox(ctx, accountID, name)
	must(t, err)
	return m
}

// appendN appends n messages with subjects "msg 1".."msg n".
func appendN(t testing.TB, e Env, mb int64, n int) []uint32 {
	t.Helper()
	var uids []uint32
	for i := 1; i <= n; i++ {
		subj := "msg " + itoa(i)
		a, err := e.Store.Append(ctx, mb, store.NewMessage{Blob: PutBlob(t, e.Blobs, Msg(subj, "body "+itoa(i))), Meta: Meta(subj, "body "+itoa(i))})
		must(t, err)
		uids = append(uids, a.UID)
	}
	return uids
}

func itoa(i int) string { return strconv.Itoa(i) }

func uidsOf(states []store.MessageState) []uint32 {
	out := make([]uint32, len(states))
	for i, s := range states {
		out[i] = s.UID
	}
	return out
}

func equalUIDs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

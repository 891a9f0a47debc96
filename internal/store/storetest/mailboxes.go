package storetest

import (
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/store"
)

func names(mbs []store.Mailbox) string {
	var n []string
	for _, m := range mbs {
		n = append(n, m.Name)
	}
	return strings.Join(n, ",")
}

func testMailboxCreateDelete(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	m, err := s.CreateMailbox(ctx, a.ID, "Work", "")
	must(t, err)
	_, err = s.CreateMailbox(ctx, a.ID, "Work", "")
	wantErr(t, err, store.ErrExists, "duplicate mailbox")
	_, err = s.CreateMailbox(ctx, a.ID, "inbox", "")
	wantErr(t, err, store.ErrExists, "inbox in other case")
	for _, bad := range []string{"../../tmp/pwn", "a//b", "", "x/..", "#shared"} {
		_, err = s.CreateMailbox(ctx, a.ID, bad, "")
		wantErr(t, err, store.ErrInvalidName, "create "+bad)
	}
	_, err = s.CreateMailbox(ctx, a.ID, "Odd", `\Bogus`)
	wantErr(t, err, store.ErrInvalidName, "bad special use")
	if _, err := s.CreateMailbox(ctx, a.ID, "Work/2026", ""); err != nil {
		t.Fatal(err)
	}
	flagged, err := s.CreateMailbox(ctx, a.ID, "Starred", store.SpecialFlagged)
	must(t, err)
	if flagged.SpecialUse != store.SpecialFlagged {
		t.Fatalf("special use lost: %+v", flagged)
	}
	appendN(t, e, m.ID, 2)
	must(t, s.DeleteMailbox(ctx, a.ID, "Work"))
	if _, err := s.Mailbox(ctx, a.ID, "Work"); err == nil {
		t.Fatal("deleted mailbox still there")
	}
	if _, err := s.Mailbox(ctx, a.ID, "Work/2026"); err != nil {
		t.Fatalf("child removed with parent: %v", err)
	}
	// Re-created mailbox has a new UIDVALIDITY.
	m2, err := s.CreateMailbox(ctx, a.ID, "Work", "")
	must(t, err)
	if m2.UIDValidity == m.UIDValidity || m2.UIDNext != 1 {
		t.Fatalf("recreated: %+v vs %+v", m2, m)
	}
	wantErr(t, s.DeleteMailbox(ctx, a.ID, "INBOX"), store.ErrInvalidName, "delete INBOX")
	wantErr(t, s.DeleteMailbox(ctx, a.ID, "Nope"), store.ErrNotFound, "delete missing")
	acc, _ := s.AccountByID(ctx, a.ID)
	if acc.UsedBytes != 0 {
		t.Fatalf("used bytes after deleting messages = %d", acc.UsedBytes)
	}
}

func testMailboxRename(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	for _, n := range []string{"Proj", "Proj/A", "Proj/A/x", "Project"} {
		_, err := s.CreateMailbox(ctx, a.ID, n, "")
		must(t, err)
	}
	must(t, s.SetSubscribed(ctx, a.ID, "Proj/A", true))
	p := mailbox(t, e, a.ID, "Proj")
	uids := appendN(t, e, p.ID, 1)
	must(t, s.RenameMailbox(ctx, a.ID, "Proj", "Old/Proj"))
	mbs, _ := s.Mailboxes(ctx, a.ID)
	got := names(mbs)
	for _, want := range []string{"Old/Proj", "Old/Proj/A", "Old/Proj/A/x", "Project"} {
		if !strings.Contains(","+got+",", ","+want+",") {
			t.Fatalf("after rename: %s (missing %s)", got, want)
		}
	}
	if strings.Contains(got, ",Proj,") || strings.Contains(got, "Proj/A,") && !strings.Contains(got, "Old/Proj/A,") {
		t.Fatalf("old names remain: %s", got)
	}
	moved := mailbox(t, e, a.ID, "Old/Proj")
	if moved.ID != p.ID || moved.UIDValidity != p.UIDValidity {
		t.Fatalf("rename changed identity: %+v vs %+v", moved, p)
	}
	if st, _ := s.MessageStates(ctx, moved.ID); !equalUIDs(uidsOf(st), uids) {
		t.Fatalf("messages lost in rename: %v", st)
	}
	if sub := mailbox(t, e, a.ID, "Old/Proj/A"); !sub.Subscribed {
		t.Fatal("subscription did not follow rename")
	}
	wantErr(t, s.RenameMailbox(ctx, a.ID, "Project", "Old/Proj"), store.ErrExists, "rename onto existing")
	wantErr(t, s.RenameMailbox(ctx, a.ID, "Project", "Project/sub"), store.ErrInvalidName, "rename into itself")
	wantErr(t, s.RenameMailbox(ctx, a.ID, "Nope", "X"), store.ErrNotFound, "rename missing")
	wantErr(t, s.RenameMailbox(ctx, a.ID, "Project", "../x"), store.ErrInvalidName, "rename to traversal")
	wantErr(t, s.RenameMailbox(ctx, a.ID, "Project", "INBOX"), store.ErrInvalidName, "rename to INBOX")
}

func testRenameInbox(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	inbox := mailbox(t, e, a.ID, "INBOX")
	_, err := s.CreateMailbox(ctx, a.ID, "INBOX/Child", "")
	must(t, err)
	uids := appendN(t, e, inbox.ID, 3)
	must(t, s.RenameMailbox(ctx, a.ID, "inbox", "Old Mail"))
	inbox2 := mailbox(t, e, a.ID, "INBOX")
	if inbox2.ID != inbox.ID {
		t.Fatal("INBOX was replaced")
	}
	if st, _ := s.MessageStates(ctx, inbox.ID); len(st) != 0 {
		t.Fatalf("INBOX not empty: %v", st)
	}
	old := mailbox(t, e, a.ID, "Old Mail")
	st, _ := s.MessageStates(ctx, old.ID)
	if !equalUIDs(uidsOf(st), uids) {
		t.Fatalf("moved messages = %v, want %v", uidsOf(st), uids)
	}
	if _, err := s.Mailbox(ctx, a.ID, "INBOX/Child"); err != nil {
		t.Fatal("INBOX children must not move")
	}
	// New mail to INBOX gets a UID above every earlier one.
	more := appendN(t, e, inbox.ID, 1)
	if more[0] <= uids[len(uids)-1] {
		t.Fatalf("UID reused in INBOX: %d", more[0])
	}
	ch, err := s.Changes(ctx, inbox.ID, inbox.HighestModSeq)
	must(t, err)
	if !equalUIDs(ch.Expunged, uids) {
		t.Fatalf("INBOX expunges = %v", ch.Expunged)
	}
}

func testSubscriptions(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	must(t, s.SetSubscribed(ctx, a.ID, "Ghost/Folder", true))
	must(t, s.SetSubscribed(ctx, a.ID, "Sent", false))
	subs, err := s.Subscriptions(ctx, a.ID)
	must(t, err)
	joined := strings.Join(subs, ",")
	if !strings.Contains(joined, "Ghost/Folder") || strings.Contains(joined, "Sent") {
		t.Fatalf("subscriptions = %v", subs)
	}
	if m := mailbox(t, e, a.ID, "Sent"); m.Subscribed {
		t.Fatal("Sent still subscribed")
	}
	wantErr(t, s.SetSubscribed(ctx, a.ID, "../x", true), store.ErrInvalidName, "subscribe invalid")
}

package storetest

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func testDeliver(t *testing.T, e Env) {
	s := e.Store
	bob := account(t, e, "bob@example.test")
	amy := account(t, e, "amy@example.test")
	body := Msg("hello", "the body")
	ref := PutBlob(t, e.Blobs, body)
	res, err := s.Deliver(ctx, &store.Delivery{
		Blob: ref, Meta: Meta("hello", "the body"), ReceivedAt: e.Clock.Now(),
		Local: []store.LocalDelivery{
			{AccountID: bob.ID, Prefix: []byte("Return-Path: <a@ext.test>\r\nDelivered-To: bob@example.test\r\n")},
			{AccountID: amy.ID, Prefix: []byte("Return-Path: <a@ext.test>\r\nDelivered-To: amy@example.test\r\n"), Flags: []string{"$Forwarded"}},
		},
		Remote: &store.Outbound{From: "bob@example.test", RET: "HDRS", EnvID: "env1", Prefix: []byte("DKIM-Signature: x\r\n"), AccountID: bob.ID,
			MsgID: "tx1",
			Rcpts: []store.OutRcpt{
				{Addr: "x@remote.test", Notify: "FAILURE,DELAY", ORCPT: "rfc822;x@remote.test"},
				{Addr: "y@other.test"},
				{Addr: "z@REMOTE.test"},
			}},
	})
	must(t, err)
	if len(res.Local) != 2 || len(res.QueueIDs) != 2 {
		t.Fatalf("result = %+v", res)
	}
	for i, acc := range []store.Account{bob, amy} {
		inbox := mailbox(t, e, acc.ID, "INBOX")
		if res.Local[i].MailboxID != inbox.ID || res.Local[i].UID != 1 || res.Local[i].AccountID != acc.ID {
			t.Fatalf("local[%d] = %+v", i, res.Local[i])
		}
		msgs, err := s.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
		must(t, err)
		if len(msgs) != 1 {
			t.Fatalf("%s INBOX has %d messages", acc.Address, len(msgs))
		}
		m := msgs[0]
		if m.Blob != ref || m.Meta == nil || m.Meta.Subject != "hello" {
			t.Fatalf("message = %+v", m)
		}
		c, err := s.OpenMessage(ctx, &m)
		must(t, err)
		all, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(all), "Return-Path: <a@ext.test>\r\nDelivered-To: "+acc.Address+"\r\n") ||
			!strings.HasSuffix(string(all), body) || int64(len(all)) != m.Size {
			t.Fatalf("content %q (size %d)", all, m.Size)
		}
		got, _ := s.AccountByID(ctx, acc.ID)
		if got.UsedBytes != m.Size {
			t.Fatalf("used bytes = %d, want %d", got.UsedBytes, m.Size)
		}
	}
	q, err := s.QueueEntries(ctx, store.QueueFilter{})
	must(t, err)
	if len(q) != 2 {
		t.Fatalf("queue = %+v", q)
	}
	byDomain := map[string]store.QueueEntry{}
	for _, e := range q {
		byDomain[e.Domain] = e
	}
	r := byDomain["remote.test"]
	if len(r.Rcpts) != 2 || r.From != "bob@example.test" || r.RET != "HDRS" || r.EnvID != "env1" || r.Blob != ref ||
		string(r.Prefix) != "DKIM-Signature: x\r\n" || r.AccountID != bob.ID || r.Rcpts[0].Notify != "FAILURE,DELAY" ||
		r.Rcpts[0].ORCPT != "rfc822;x@remote.test" || r.Rcpts[0].Status != store.RcptPending ||
		r.MsgID != "tx1" || r.MessageID != "<hello@ext.test>" {
		t.Fatalf("remote.test entry = %+v", r)
	}
	if o := byDomain["other.test"]; len(o.Rcpts) != 1 || o.MsgID != "tx1" || o.MessageID != "<hello@ext.test>" {
		t.Fatalf("other.test entry = %+v", byDomain["other.test"])
	}
	_, err = s.Deliver(ctx, &store.Delivery{Blob: ref})
	if err == nil {
		t.Fatal("delivery without recipients accepted")
	}
}

func testDeliverSpecialUse(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	ref := PutBlob(t, e.Blobs, Msg("spam", "buy"))
	res, err := s.Deliver(ctx, &store.Delivery{Blob: ref, Local: []store.LocalDelivery{
		{AccountID: a.ID, SpecialUse: store.SpecialJunk},
		{AccountID: a.ID, Mailbox: "Archive"},
		{AccountID: a.ID, Mailbox: "No Such Folder"},
	}})
	must(t, err)
	want := []string{"Junk", "Archive", "INBOX"}
	for i, l := range res.Local {
		mb, _ := s.MailboxByID(ctx, l.MailboxID)
		if mb.Name != want[i] {
			t.Errorf("delivery %d went to %q, want %q", i, mb.Name, want[i])
		}
	}
}

func testAppendFetchOpen(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	inbox := mailbox(t, e, a.ID, "INBOX")
	date := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	ref := PutBlob(t, e.Blobs, Msg("appended", "text"))
	ap, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: ref, Meta: Meta("appended", "text"),
		Flags: []string{`\Seen`, "Work", "work", `\Recent`, "bad kw", `\Draft`}, InternalDate: date})
	must(t, err)
	if ap.UID != 1 || ap.MailboxID != inbox.ID {
		t.Fatalf("appended = %+v", ap)
	}
	msgs, err := s.FetchMessages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FetchOptions{})
	must(t, err)
	m := msgs[0]
	if !m.InternalDate.Equal(date) || m.Size != ref.Size || m.Meta != nil {
		t.Fatalf("message = %+v", m)
	}
	if f := strings.Join(m.Flags, " "); f != `\Seen \Draft Work` {
		t.Fatalf("flags = %q", f)
	}
	c, err := s.OpenMessage(ctx, &m)
	must(t, err)
	defer c.Close()
	buf := make([]byte, 7)
	if _, err := c.ReadAt(buf, 0); err != nil || string(buf) != "From: A" || c.Size() != ref.Size {
		t.Fatalf("ReadAt = %q %v", buf, err)
	}
	more := appendN(t, e, inbox.ID, 5)
	if more[0] != 2 || more[4] != 6 {
		t.Fatalf("UIDs = %v", more)
	}
	got, _ := s.FetchMessages(ctx, inbox.ID, store.UIDSet{{Start: 5, Stop: 9}, {Start: 1, Stop: 2}}, store.FetchOptions{})
	if len(got) != 4 || got[0].UID != 1 || got[3].UID != 6 {
		t.Fatalf("fetch 1:2,5:9 = %v", got)
	}
	var big store.UIDSet
	for u := uint32(1); u <= 200; u += 2 {
		big = append(big, store.UIDRange{Start: u, Stop: u})
	}
	got, _ = s.FetchMessages(ctx, inbox.ID, big, store.FetchOptions{})
	if len(got) != 3 || got[0].UID != 1 || got[1].UID != 3 || got[2].UID != 5 {
		t.Fatalf("fetch of a large sparse set = %v", got)
	}
	st, err := s.MailboxStatus(ctx, inbox.ID)
	must(t, err)
	if st.Messages != 6 || st.Unseen != 5 || st.UIDNext != 7 || st.Size == 0 {
		t.Fatalf("status = %+v", st)
	}
}

func testFlags(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	appendN(t, e, mb.ID, 4)
	before := mailbox(t, e, a.ID, "INBOX").HighestModSeq
	ch, err := s.UpdateFlags(ctx, mb.ID, store.UIDSet{{Start: 1, Stop: 2}}, store.FlagsAdd, []string{`\Seen`, "$Label1"})
	must(t, err)
	if len(ch) != 2 || ch[0].ModSeq <= before || strings.Join(ch[0].Flags, " ") != `\Seen $Label1` {
		t.Fatalf("add = %+v", ch)
	}
	// No-op changes report nothing and do not bump MODSEQ.
	ch, _ = s.UpdateFlags(ctx, mb.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsAdd, []string{`\Seen`})
	if len(ch) != 0 {
		t.Fatalf("no-op add reported %v", ch)
	}
	ch, _ = s.UpdateFlags(ctx, mb.ID, store.UIDSet{{Start: 2, Stop: 3}}, store.FlagsRemove, []string{`\Seen`, "$LABEL1"})
	if len(ch) != 1 || ch[0].UID != 2 || len(ch[0].Flags) != 0 {
		t.Fatalf("remove = %+v", ch)
	}
	ch, _ = s.UpdateFlags(ctx, mb.ID, store.AllUIDs, store.FlagsSet, []string{`\Flagged`, `\Deleted`})
	if len(ch) != 4 {
		t.Fatalf("set = %+v", ch)
	}
	states, _ := s.MessageStates(ctx, mb.ID)
	for _, st := range states {
		if strings.Join(st.Flags, " ") != `\Flagged \Deleted` {
			t.Fatalf("state %+v", st)
		}
	}
	st, _ := s.MailboxStatus(ctx, mb.ID)
	if st.Deleted != 4 || st.Unseen != 4 {
		t.Fatalf("status = %+v", st)
	}
}

func testExpunge(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	appendN(t, e, mb.ID, 5)
	_, err := s.UpdateFlags(ctx, mb.ID, store.UIDSet{{Start: 2, Stop: 4}}, store.FlagsAdd, []string{`\Deleted`})
	must(t, err)
	got, err := s.Expunge(ctx, mb.ID, store.UIDSet{{Start: 3, Stop: 3}, {Start: 5, Stop: 5}})
	must(t, err)
	if !equalUIDs(got, []uint32{3}) {
		t.Fatalf("UID EXPUNGE 3,5 = %v", got)
	}
	got, _ = s.Expunge(ctx, mb.ID, nil)
	if !equalUIDs(got, []uint32{2, 4}) {
		t.Fatalf("EXPUNGE = %v", got)
	}
	states, _ := s.MessageStates(ctx, mb.ID)
	if !equalUIDs(uidsOf(states), []uint32{1, 5}) {
		t.Fatalf("left = %v", uidsOf(states))
	}
	del, _ := s.DeleteMessages(ctx, mb.ID, []uint32{5, 5, 42})
	if !equalUIDs(del, []uint32{5}) {
		t.Fatalf("DeleteMessages = %v", del)
	}
	// Removing the newest message must not let its UID come back.
	more := appendN(t, e, mb.ID, 1)
	if more[0] != 6 {
		t.Fatalf("UID after expunge = %d, want 6", more[0])
	}
	acc, _ := s.AccountByID(ctx, a.ID)
	st, _ := s.MailboxStatus(ctx, mb.ID)
	if acc.UsedBytes != st.Size {
		t.Fatalf("used %d != mailbox size %d", acc.UsedBytes, st.Size)
	}
}

func testCopyMove(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	other := account(t, e, "v@example.test")
	src := mailbox(t, e, a.ID, "INBOX")
	dst := mailbox(t, e, a.ID, "Archive")
	appendN(t, e, dst.ID, 1) // dst UIDNEXT is 2
	appendN(t, e, src.ID, 4)
	s.UpdateFlags(ctx, src.ID, store.UIDSet{{Start: 2, Stop: 2}}, store.FlagsAdd, []string{`\Flagged`, "kw"})
	pairs, err := s.Copy(ctx, src.ID, store.UIDSet{{Start: 2, Stop: 3}}, dst.ID)
	must(t, err)
	if len(pairs) != 2 || pairs[0] != (store.UIDPair{Src: 2, Dst: 2}) || pairs[1] != (store.UIDPair{Src: 3, Dst: 3}) {
		t.Fatalf("copy = %v", pairs)
	}
	msgs, _ := s.FetchMessages(ctx, dst.ID, store.UIDSet{{Start: 2, Stop: 2}}, store.FetchOptions{Meta: true})
	if len(msgs) != 1 || strings.Join(msgs[0].Flags, " ") != `\Flagged kw` || msgs[0].Meta.Subject != "msg 2" {
		t.Fatalf("copied message = %+v", msgs)
	}
	pairs, err = s.Move(ctx, src.ID, store.UIDSet{{Start: 1, Stop: 1}, {Start: 4, Stop: 4}}, dst.ID)
	must(t, err)
	if len(pairs) != 2 || pairs[0] != (store.UIDPair{Src: 1, Dst: 4}) || pairs[1] != (store.UIDPair{Src: 4, Dst: 5}) {
		t.Fatalf("move = %v", pairs)
	}
	srcLeft, _ := s.MessageStates(ctx, src.ID)
	dstAll, _ := s.MessageStates(ctx, dst.ID)
	if !equalUIDs(uidsOf(srcLeft), []uint32{2, 3}) || !equalUIDs(uidsOf(dstAll), []uint32{1, 2, 3, 4, 5}) {
		t.Fatalf("after move: src %v dst %v", uidsOf(srcLeft), uidsOf(dstAll))
	}
	// The copies share blobs: expunging originals keeps the copies readable.
	s.UpdateFlags(ctx, src.ID, store.AllUIDs, store.FlagsAdd, []string{`\Deleted`})
	s.Expunge(ctx, src.ID, nil)
	msgs, _ = s.FetchMessages(ctx, dst.ID, store.UIDSet{{Start: 2, Stop: 2}}, store.FetchOptions{})
	c, err := s.OpenMessage(ctx, &msgs[0])
	must(t, err)
	data, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(data), "Subject: msg 2") {
		t.Fatalf("copy content = %q", data)
	}
	otherInbox := mailbox(t, e, other.ID, "INBOX")
	if _, err := s.Copy(ctx, dst.ID, store.AllUIDs, otherInbox.ID); err == nil {
		t.Fatal("copy into another account's mailbox allowed")
	}
	if p, err := s.Move(ctx, src.ID, store.UIDSet{{Start: 100, Stop: 200}}, dst.ID); err != nil || len(p) != 0 {
		t.Fatalf("move of nothing = %v, %v", p, err)
	}
	// Within one mailbox: new UIDs at the end, the old ones expunged.
	pairs, err = s.Move(ctx, dst.ID, store.UIDSet{{Start: 1, Stop: 1}}, dst.ID)
	must(t, err)
	if len(pairs) != 1 || pairs[0] != (store.UIDPair{Src: 1, Dst: 6}) {
		t.Fatalf("move within the mailbox = %v", pairs)
	}
	if all, _ := s.MessageStates(ctx, dst.ID); !equalUIDs(uidsOf(all), []uint32{2, 3, 4, 5, 6}) {
		t.Fatalf("after a move within the mailbox: %v", uidsOf(all))
	}
	acc, _ := s.AccountByID(ctx, a.ID)
	st, _ := s.MailboxStatus(ctx, dst.ID)
	if acc.UsedBytes != st.Size {
		t.Fatalf("used %d != %d", acc.UsedBytes, st.Size)
	}
}

func testChanges(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	appendN(t, e, mb.ID, 3)
	base := mailbox(t, e, a.ID, "INBOX").HighestModSeq
	s.UpdateFlags(ctx, mb.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsAdd, []string{`\Seen`})
	s.DeleteMessages(ctx, mb.ID, []uint32{2})
	appendN(t, e, mb.ID, 1)
	c, err := s.Changes(ctx, mb.ID, base)
	must(t, err)
	if !equalUIDs(c.Expunged, []uint32{2}) || len(c.Updated) != 2 || c.Updated[0].UID != 1 || c.Updated[1].UID != 4 ||
		c.HighestModSeq <= base || c.UIDNext != 5 {
		t.Fatalf("changes = %+v", c)
	}
	if strings.Join(c.Updated[0].Flags, " ") != `\Seen` {
		t.Fatalf("flags = %v", c.Updated[0].Flags)
	}
	none, _ := s.Changes(ctx, mb.ID, c.HighestModSeq)
	if len(none.Updated)+len(none.Expunged) != 0 {
		t.Fatalf("changes since highest = %+v", none)
	}
}

func testChangeEvents(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	sub := s.Subscribe()
	defer sub.Close()
	appendN(t, e, mb.ID, 1)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-sub.C:
			if c.Kind == store.MessagesChanged && c.MailboxID == mb.ID && c.AccountID == a.ID && c.ModSeq > 0 {
				return
			}
		case <-deadline:
			t.Fatal("no MessagesChanged event after append")
		}
	}
}

func testQuota(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	ref := PutBlob(t, e.Blobs, Msg("q", strings.Repeat("x", 500)))
	q := ref.Size + 10
	must(t, s.UpdateAccount(ctx, a.ID, store.AccountUpdate{QuotaBytes: &q}))
	_, err := s.Append(ctx, mb.ID, store.NewMessage{Blob: ref})
	must(t, err)
	_, err = s.Append(ctx, mb.ID, store.NewMessage{Blob: ref})
	wantErr(t, err, store.ErrQuotaExceeded, "append over quota")
	_, err = s.Copy(ctx, mb.ID, store.AllUIDs, mailbox(t, e, a.ID, "Archive").ID)
	wantErr(t, err, store.ErrQuotaExceeded, "copy over quota")
	// Delivery never refuses an accepted message.
	_, err = s.Deliver(ctx, &store.Delivery{Blob: ref, Local: []store.LocalDelivery{{AccountID: a.ID}}})
	must(t, err)
}

func testDeleteAccount(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	b := account(t, e, "w@example.test")
	ref := PutBlob(t, e.Blobs, Msg("shared", "x"))
	_, err := s.Deliver(ctx, &store.Delivery{Blob: ref, Local: []store.LocalDelivery{{AccountID: a.ID}, {AccountID: b.ID}}})
	must(t, err)
	must(t, s.DeleteAccount(ctx, "U@example.test"))
	if _, err := s.Account(ctx, "u@example.test"); err == nil {
		t.Fatal("account still there")
	}
	if mbs, _ := s.Mailboxes(ctx, a.ID); len(mbs) != 0 {
		t.Fatalf("mailboxes left: %v", mbs)
	}
	msgs, _ := s.FetchMessages(ctx, mailbox(t, e, b.ID, "INBOX").ID, store.AllUIDs, store.FetchOptions{})
	c, err := s.OpenMessage(ctx, &msgs[0])
	must(t, err)
	c.Close()
	wantErr(t, s.DeleteAccount(ctx, "u@example.test"), store.ErrNotFound, "delete missing account")
}

func testConcurrentDeliveries(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	uids := make(chan uint32, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := PutBlob(t, e.Blobs, Msg(fmt.Sprint("c", i), "x"))
			res, err := s.Deliver(ctx, &store.Delivery{Blob: ref, Local: []store.LocalDelivery{{AccountID: a.ID}}})
			if err != nil {
				errs <- err
				return
			}
			uids <- res.Local[0].UID
		}()
	}
	wg.Wait()
	close(errs)
	close(uids)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for u := range uids {
		if seen[u] {
			t.Fatalf("UID %d handed out twice", u)
		}
		seen[u] = true
	}
	st, _ := s.MessageStates(ctx, mb.ID)
	if len(st) != n || st[n-1].UID != n {
		t.Fatalf("%d messages, last UID %d", len(st), st[len(st)-1].UID)
	}
}

func testMaildropLock(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	release, err := s.LockMaildrop(ctx, a.ID)
	must(t, err)
	_, err = s.LockMaildrop(ctx, a.ID)
	wantErr(t, err, store.ErrLocked, "second lock")
	release()
	release()
	r2, err := s.LockMaildrop(ctx, a.ID)
	must(t, err)
	r2()
}

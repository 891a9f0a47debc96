package backup_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/backup"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

var ctx = context.Background()

// sender delivers messages over SMTP until stop, recording the
// Message-ID of each one the server acknowledged with 250.
type sender struct {
	mu    sync.Mutex
	acked []string
	n     atomic.Int64
}

func (s *sender) run(t *testing.T, addr string, id int, rcpts []string, stop <-chan struct{}) {
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if err := c.Hello("load.ext.test"); err != nil {
		t.Error(err)
		return
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			c.Quit()
			return
		default:
		}
		msgID := fmt.Sprintf("<load-%d-%d@ext.test>", id, i)
		rcpt := rcpts[i%len(rcpts)]
		msg := fmt.Sprintf("From: load@ext.test\r\nTo: %s\r\nSubject: load %d/%d\r\nMessage-ID: %s\r\n\r\n%s\r\n",
			rcpt, id, i, msgID, strings.Repeat(fmt.Sprintf("body of message %d from sender %d. ", i, id), 1+i%40))
		if err := c.Mail("load@ext.test", nil); err != nil {
			t.Error(err)
			return
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Error(err)
			return
		}
		w, err := c.Data()
		if err != nil {
			t.Error(err)
			return
		}
		io.WriteString(w, msg)
		if err := w.Close(); err != nil { // the 250 after DATA
			t.Error(err)
			return
		}
		s.mu.Lock()
		s.acked = append(s.acked, msgID)
		s.mu.Unlock()
		s.n.Add(1)
	}
}

func (s *sender) ackedSoFar() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.acked))
	for _, id := range s.acked {
		out[id] = true
	}
	return out
}

type msgState struct {
	Account, Mailbox string
	UIDValidity      uint32
	UID              uint32
	Flags            []string
	Size             int64
}

// state maps Message-ID to where and how each message is stored.
func state(t *testing.T, st store.Store) map[string]msgState {
	t.Helper()
	accts, err := st.Accounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]msgState{}
	for _, a := range accts {
		mbs, _ := st.Mailboxes(ctx, a.ID)
		for _, mb := range mbs {
			msgs, err := st.FetchMessages(ctx, mb.ID, store.AllUIDs, store.FetchOptions{Meta: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				out[m.Meta.MessageID] = msgState{a.Address, mb.Name, mb.UIDValidity, m.UID, m.Flags, m.Size}
			}
		}
	}
	return out
}

// TestBackupUnderSMTPLoad backs up a running server while four SMTP
// sessions keep delivering, restores into a new directory, starts a
// server on it, and checks that every message acknowledged before the
// backup started is there with its UID, UIDVALIDITY and flags, that
// nothing is half there, and that DKIM keys and the queue came back.
func TestBackupUnderSMTPLoad(t *testing.T) {
	t.Parallel()
	// Mail for remote.test goes to a closed loopback port: the queued
	// message is deferred (a temporary failure) and stays queued.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) {
		c.Relay.Routes = []config.RelayRoute{{Domain: "remote.test", Host: "127.0.0.1", Port: closed, Mode: "plain"}}
	}})
	alice := e.AddUser(t, "alice@example.test", "alice's password")
	e.AddUser(t, "bob@example.test", "bob's password")
	if _, err := e.Store.CreateMailbox(ctx, alice.ID, "Projects/2026", ""); err != nil {
		t.Fatal(err)
	}
	// A queued message for a remote domain.
	w, _ := e.Server.Blobs.Create(ctx)
	io.WriteString(w, "From: alice@example.test\r\nTo: x@remote.test\r\nMessage-ID: <queued@example.test>\r\n\r\nout\r\n")
	ref, _ := w.Commit(ctx)
	if _, err := e.Store.Deliver(ctx, &store.Delivery{Blob: ref, Meta: &store.MessageMeta{MessageID: "<queued@example.test>"},
		Remote: &store.Outbound{From: "alice@example.test", Rcpts: []store.OutRcpt{{Addr: "x@remote.test", Notify: "FAILURE,DELAY"}}}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the first delivery attempt of the queued message", func() bool {
		q, err := e.Store.QueueEntries(ctx, store.QueueFilter{})
		return err == nil && len(q) == 1 && q[0].Attempts >= 1
	})

	var s sender
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(t, e.Addr["smtp"], i, []string{"alice@example.test", "bob@example.test"}, stop)
		}()
	}
	testenv.WaitFor(t, 60*time.Second, "100 messages acknowledged", func() bool { return s.n.Load() >= 100 })
	// Flags on some of alice's messages (UpdateFlags, as IMAP STORE does).
	inbox := e.Inbox(t, alice.ID)
	if _, err := e.Store.UpdateFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 10}}, store.FlagsAdd, []string{store.FlagSeen, "$Label1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Move(ctx, inbox.ID, store.UIDSet{{Start: 11, Stop: 12}}, mustMailbox(t, e.Store, alice.ID, "Projects/2026")); err != nil {
		t.Fatal(err)
	}
	before := s.ackedSoFar()
	ackedAtStart := s.n.Load()

	bdir := filepath.Join(t.TempDir(), "backup")
	res, err := backup.Run(ctx, backup.Options{DataDir: e.DataDir, Dir: bdir, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ackedDuring := s.n.Load() - ackedAtStart
	close(stop)
	wg.Wait()
	t.Logf("backup of %d messages (%d blobs) while the load went on: %d acknowledged before, %d during the backup, %s",
		res.Manifest.Counts.Messages, len(res.Manifest.Blobs), len(before), ackedDuring, res.Duration)
	if v, err := backup.Verify(ctx, bdir, backup.VerifyOptions{}); err != nil || len(v.Problems) > 0 {
		t.Fatalf("backup verify: %v %q", err, v.Problems)
	}

	// The source is now still: take its state, then restore and compare.
	src := state(t, e.Store)
	srcKeys, _ := e.Store.DKIMKeys(ctx, "example.test")
	srcQueue, _ := e.Store.QueueEntries(ctx, store.QueueFilter{})
	ndir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Dir: bdir, DataDir: ndir}); err != nil {
		t.Fatal(err)
	}
	r := testenv.Start(t, testenv.Options{DataDir: ndir})
	got := state(t, r.Store)
	missing := 0
	for id := range before {
		g, ok := got[id]
		if !ok {
			missing++
			t.Errorf("message %s acknowledged before the backup is not in the restore", id)
			continue
		}
		if want := src[id]; !reflect.DeepEqual(g, want) {
			t.Errorf("message %s: restored %+v, source %+v", id, g, want)
		}
	}
	for id, g := range got {
		if want, ok := src[id]; !ok || !reflect.DeepEqual(g, want) {
			t.Errorf("restored message %s %+v is not in the source as such (%+v)", id, g, want)
		}
	}
	if len(got) != res.Manifest.Counts.Messages {
		t.Errorf("restored %d messages, the manifest says %d", len(got), res.Manifest.Counts.Messages)
	}
	// Nothing half there: every message's blob exists with its hash, and
	// the reference counts are right.
	rep, err := r.Server.Store.Verify(ctx, sqlstore.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify of the restored server: %v %+v", err, rep)
	}
	gotKeys, _ := r.Store.DKIMKeys(ctx, "example.test")
	if len(srcKeys) == 0 || !reflect.DeepEqual(gotKeys, srcKeys) {
		t.Errorf("DKIM keys: restored %+v, source %+v", gotKeys, srcKeys)
	}
	gotQueue, _ := r.Store.QueueEntries(ctx, store.QueueFilter{})
	if len(gotQueue) != 1 || len(srcQueue) != 1 || gotQueue[0].ID != srcQueue[0].ID || gotQueue[0].Blob != srcQueue[0].Blob ||
		gotQueue[0].From != srcQueue[0].From || !reflect.DeepEqual(gotQueue[0].Rcpts[0].Addr, srcQueue[0].Rcpts[0].Addr) ||
		gotQueue[0].Rcpts[0].Notify != "FAILURE,DELAY" || gotQueue[0].Attempts != srcQueue[0].Attempts || gotQueue[0].LastError != srcQueue[0].LastError {
		t.Errorf("queue: restored %+v, source %+v", gotQueue, srcQueue)
	}
	mbSrc, _ := e.Store.Mailboxes(ctx, alice.ID)
	mbGot, _ := r.Store.Mailboxes(ctx, alice.ID)
	if !reflect.DeepEqual(names(mbSrc), names(mbGot)) {
		t.Errorf("mailboxes: restored %v, source %v", names(mbGot), names(mbSrc))
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", missing, len(before))
	}
}

func mustMailbox(t *testing.T, st store.Store, accountID int64, name string) int64 {
	t.Helper()
	mb, err := st.Mailbox(ctx, accountID, name)
	if err != nil {
		t.Fatal(err)
	}
	return mb.ID
}

// names lists mailboxes with their UIDVALIDITY.
func names(mbs []store.Mailbox) []string {
	var out []string
	for _, m := range mbs {
		out = append(out, fmt.Sprintf("%s/%d/%s", m.Name, m.UIDValidity, m.SpecialUse))
	}
	sort.Strings(out)
	return out
}

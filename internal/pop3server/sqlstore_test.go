package pop3server

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// The end-to-end tests run on the real store: SQLite and blob files in
// t.TempDir(), mail put in with store.Deliver as the SMTP server does.

// sqlEnv is a SQLite store with the test accounts.
type sqlEnv struct {
	dir   string
	blobs *blob.FS
	s     *sqlstore.Store
	ids   map[string]int64
}

func newSQLEnv(t testing.TB) *sqlEnv {
	t.Helper()
	e := &sqlEnv{dir: t.TempDir(), ids: map[string]int64{}}
	e.open(t)
	ctx := context.Background()
	if err := e.s.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	h := auth.NewHasher(auth.TestParams)
	for _, u := range slices.Sorted(mapKeys(testUsers)) {
		hash, err := h.Hash(ctx, testUsers[u])
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.s.CreateAccount(ctx, u, hash)
		if err != nil {
			t.Fatal(err)
		}
		e.ids[u] = a.ID
	}
	return e
}

// open opens (or reopens, after a restart) the store.
func (e *sqlEnv) open(t testing.TB) {
	t.Helper()
	blobs, err := blob.NewFS(filepath.Join(e.dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(e.dir, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	e.blobs, e.s = blobs, s
	t.Cleanup(func() { s.Close() })
}

// restart closes the store and opens it again from its files.
func (e *sqlEnv) restart(t testing.TB) {
	t.Helper()
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
}

// authService authenticates against the store's accounts.
func (e *sqlEnv) authService(lim auth.LimiterConfig) *auth.Service {
	return &auth.Service{Store: storeCreds{e}, Hasher: auth.NewHasher(auth.TestParams), Limiter: auth.NewLimiter(lim, nil)}
}

type storeCreds struct{ e *sqlEnv }

func (c storeCreds) Credentials(ctx context.Context, u string) (auth.Credentials, bool, error) {
	a, err := c.e.s.Account(ctx, strings.ToLower(u))
	if errors.Is(err, store.ErrNotFound) {
		return auth.Credentials{}, false, nil
	} else if err != nil {
		return auth.Credentials{}, false, err
	}
	return auth.Credentials{AccountID: a.ID, Address: a.Address, PasswordHash: a.PasswordHash, Disabled: a.Disabled}, true, nil
}

// deliver files msg into user's INBOX through the blob store and Deliver.
func (e *sqlEnv) deliver(t testing.TB, user, msg string) {
	t.Helper()
	ctx := context.Background()
	w, err := e.blobs.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subject, _, _ := strings.Cut(msg[strings.Index(msg, "Subject: ")+len("Subject: "):], "\r\n")
	_, err = e.s.Deliver(ctx, &store.Delivery{Blob: ref, Meta: &store.MessageMeta{Subject: subject}, ReceivedAt: time.Now(),
		Local: []store.LocalDelivery{{AccountID: e.ids[user]}}})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *sqlEnv) inbox(t testing.TB, user string) store.Mailbox {
	t.Helper()
	mb, err := e.s.Mailbox(context.Background(), e.ids[user], store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func (e *sqlEnv) states(t testing.TB, user string) []store.MessageState {
	t.Helper()
	st, err := e.s.MessageStates(context.Background(), e.inbox(t, user).ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newE2E runs the end-to-end tests over the SQLite store.
func newE2E(t *testing.T) *e2eEnv {
	e := newSQLEnv(t)
	env := &e2eEnv{}
	env.stlsAddr, env.tlsAddr, env.certFile = e2eServers(t, e.s, e.authService(authNoLimit))
	env.deliver = func(t *testing.T, user, msg string) { e.deliver(t, user, msg) }
	env.count = func(t *testing.T, user string) int { return len(e.states(t, user)) }
	env.seen = func(t *testing.T, user string) int {
		n := 0
		for _, st := range e.states(t, user) {
			if slices.Contains(st.Flags, store.FlagSeen) {
				n++
			}
		}
		return n
	}
	return env
}

// startSQLServer serves POP3 (plaintext auth allowed) over the store.
func startSQLServer(t *testing.T, e *sqlEnv) *testServer {
	return startServer(t, Config{AllowInsecureAuth: true}, func(s *Server) {
		s.Backend = e.s
		s.Auth = e.authService(authNoLimit)
	})
}

// TestSQLDeleteDurable: DELE without QUIT deletes nothing; DELE then QUIT
// deletes, and the deletion survives a restart; UIDLs survive it too.
func TestSQLDeleteDurable(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver(t, "alice@example.test", e2eMessage(i))
	}
	ts := startSQLServer(t, e)
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	uidl := c.multi("UIDL")
	c.ok("DELE 1")
	c.ok("DELE 3")
	c.conn.Close() // no QUIT
	waitFor(t, "session end", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return len(ts.sessions) == 0
	})
	if n := len(e.states(t, "alice@example.test")); n != 3 {
		t.Fatalf("dropped session deleted: %d left", n)
	}

	c = dial(t, ts.addr)
	c.login("alice@example.test")
	if got := c.multi("UIDL"); !slices.Equal(got, uidl) {
		t.Fatalf("UIDL changed: %q, then %q", uidl, got)
	}
	c.ok("DELE 1")
	c.ok("DELE 3")
	c.ok("QUIT")

	e.restart(t)
	st := e.states(t, "alice@example.test")
	if len(st) != 1 || st[0].UID != 2 {
		t.Fatalf("after QUIT and restart: %+v", st)
	}
	ts2 := startSQLServer(t, e)
	c = dial(t, ts2.addr)
	c.login("alice@example.test")
	if got := c.multi("UIDL"); len(got) != 1 || strings.Fields(got[0])[1] != strings.Fields(uidl[1])[1] {
		t.Fatalf("UIDL after restart = %q, was %q", got, uidl)
	}
	if got := c.multi("RETR 1"); strings.Join(got, "\r\n")+"\r\n" != e2eMessage(2) {
		t.Fatalf("RETR after restart = %q", got)
	}
	c.ok("QUIT")
	if st := e.states(t, "alice@example.test"); !slices.Contains(st[0].Flags, store.FlagSeen) {
		t.Errorf("RETR then QUIT did not set \\Seen: %v", st[0].Flags)
	}
}

// TestSQLInUseAndSnapshot: the store's lock gives IN-USE; mail delivered
// during a session waits for the next one.
func TestSQLInUseAndSnapshot(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	e.deliver(t, "alice@example.test", e2eMessage(1))
	ts := startSQLServer(t, e)
	c1 := dial(t, ts.addr)
	c1.login("alice@example.test")
	c2 := dial(t, ts.addr)
	c2.ok("USER alice@example.test")
	if l := c2.cmd("PASS %s", testUsers["alice@example.test"]); !strings.HasPrefix(l, "-ERR [IN-USE]") {
		t.Fatalf("second session: %q", l)
	}
	e.deliver(t, "alice@example.test", e2eMessage(2))
	if l := c1.ok("STAT"); l != "+OK 1 "+itoa(len(e2eMessage(1))) {
		t.Fatalf("STAT = %q", l)
	}
	c1.ok("QUIT")
	c2.ok("USER alice@example.test")
	c2.ok("PASS %s", testUsers["alice@example.test"])
	if l := c2.ok("STAT"); !strings.HasPrefix(l, "+OK 2 ") {
		t.Fatalf("next session STAT = %q", l)
	}
}

// TestSQLDeleteVisibleToIMAP: a POP3 deletion publishes a change and shows
// in Changes as expunged, which is what IMAP sessions follow.
func TestSQLDeleteVisibleToIMAP(t *testing.T) {
	t.Parallel()
	e := newSQLEnv(t)
	for i := 1; i <= 2; i++ {
		e.deliver(t, "alice@example.test", e2eMessage(i))
	}
	inbox := e.inbox(t, "alice@example.test")
	sub := e.s.Subscribe()
	defer sub.Close()
	ts := startSQLServer(t, e)
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.ok("QUIT")
	select {
	case ch := <-sub.C:
		if ch.MailboxID != inbox.ID && ch.Kind != store.Resync {
			t.Fatalf("change = %+v", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change published")
	}
	chg, err := e.s.Changes(context.Background(), inbox.ID, inbox.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(chg.Expunged, []uint32{1}) {
		t.Fatalf("Changes.Expunged = %v", chg.Expunged)
	}
}

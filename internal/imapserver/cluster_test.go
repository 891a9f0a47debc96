package imapserver

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Two nodes on one PostgreSQL database (cluster mode): a session on node 2
// sees what happens through node 1 — delivery in IDLE, flag changes,
// MOVE's expunges — through the database's notifications.
func TestClusterTwoNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	open := func() *sqlstore.Store {
		st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: "postgres", DSN: dsn, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st1, st2 := open(), open()
	acct := createAccounts(t, st1)
	n1 := serveStore(t, st1, st1.Blobs(), acct)
	n2 := serveStore(t, st2, st2.Blobs(), acct)

	// The delivery comes while this session has INBOX selected: it is
	// recent to it (each node keeps its own \Recent claims).
	idle := n2.rawTLS(t).login()
	idle.ok("SELECT INBOX")
	idle.write("i IDLE\r\n")
	idle.line()
	start := time.Now()
	n1.deliver(t, "", testMsg("via node 1", "x"))
	idle.expectUntagged("* 1 EXISTS", 10*time.Second)
	t.Logf("delivery on node 1 → EXISTS in IDLE on node 2: %v", time.Since(start))
	idle.write("DONE\r\n")
	idle.expectUntagged("i OK", 5*time.Second)

	a := n1.rawTLS(t).login()
	a.ok("SELECT INBOX")
	a.ok(`STORE 1 +FLAGS (\Flagged)`)
	if u := idle.ok("NOOP"); !contains(u, `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent))`) {
		t.Fatalf("flags from node 1 on node 2: %q", u)
	}
	a.ok("MOVE 1 Archive")
	if u := idle.ok("NOOP"); !contains(u, "* 1 EXPUNGE") {
		t.Fatalf("MOVE on node 1 seen on node 2: %q", u)
	}
}

package pop3server

import (
	"slices"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/store"
)

func TestMaildropInUse(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "Subject: a\r\n\r\na\r\n")
	c1 := dial(t, ts.addr)
	c1.login("alice@example.test")
	c2 := dial(t, ts.addr)
	c2.ok("USER alice@example.test")
	if l := c2.cmd("PASS alice-pw"); l != "-ERR [IN-USE] Maildrop already locked by another session" {
		t.Fatalf("second session: %q", l)
	}
	// Another account is not affected.
	c3 := dial(t, ts.addr)
	c3.login("bob@example.test")
	// The first session drops without QUIT: the lock goes with it.
	c1.conn.Close()
	waitFor(t, "lock release", func() bool { return !ts.backend.locked(1) })
	c2.ok("USER alice@example.test")
	c2.ok("PASS alice-pw")
	c2.ok("QUIT")
	if ts.backend.locked(1) {
		t.Fatal("lock held after QUIT")
	}
}

// TestSnapshot: mail arriving during a session waits for the next one.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "Subject: 1\r\n\r\n1\r\n")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	ts.backend.add(1, "Subject: 2\r\n\r\n2\r\n")
	if l := c.ok("STAT"); l != "+OK 1 17" {
		t.Fatalf("STAT = %q", l)
	}
	if got := c.multi("LIST"); len(got) != 1 {
		t.Fatalf("LIST = %q", got)
	}
	if l := c.cmd("RETR 2"); l != "-ERR No such message" {
		t.Fatalf("RETR 2 = %q", l)
	}
	c.ok("QUIT")
	c = dial(t, ts.addr)
	c.login("alice@example.test")
	if l := c.ok("STAT"); l != "+OK 2 34" {
		t.Fatalf("next session STAT = %q", l)
	}
}

func TestDeleteNeedsQuit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	for i := range 3 {
		ts.backend.add(1, "Subject: m\r\n\r\nbody\r\n")
		_ = i
	}
	// DELE, then the connection drops: nothing is deleted.
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.ok("DELE 2")
	c.conn.Close()
	waitFor(t, "session end", func() bool { return !ts.backend.locked(1) })
	if ts.backend.deleteCalls() != 0 || len(ts.backend.uids(1)) != 3 {
		t.Fatalf("dropped session deleted: %v", ts.backend.uids(1))
	}
	// DELE, RSET, DELE, QUIT: exactly the last marks are removed, once.
	c = dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	c.ok("RSET")
	c.ok("DELE 2")
	c.ok("DELE 3")
	if l := c.ok("QUIT"); l != "+OK Bye, 1 messages left" {
		t.Fatalf("QUIT = %q", l)
	}
	c.expectClosed()
	if got := ts.backend.uids(1); !slices.Equal(got, []uint32{1}) || ts.backend.deleteCalls() != 1 {
		t.Fatalf("after QUIT: %v, %d calls", got, ts.backend.deleteCalls())
	}
}

func TestDeleteFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "x\r\n")
	ts.backend.failDel = store.ErrUnavailable
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	c.ok("DELE 1")
	if l := c.cmd("QUIT"); l != "-ERR [SYS/TEMP] Some deleted messages not removed" {
		t.Fatalf("QUIT = %q", l)
	}
	c.expectClosed()
	if len(ts.backend.uids(1)) != 1 || ts.backend.locked(1) {
		t.Fatal("message gone or lock held")
	}
}

func TestUIDLStable(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	for range 3 {
		ts.backend.add(1, "Subject: m\r\n\r\nbody\r\n")
	}
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	first := c.multi("UIDL")
	if len(first) != 3 || first[0] != "1 000000016553F101" {
		t.Fatalf("UIDL = %q", first)
	}
	if l := c.ok("UIDL 3"); l != "+OK "+first[2] {
		t.Fatalf("UIDL 3 = %q, want %q", l, first[2])
	}
	c.ok("DELE 1")
	if got := c.multi("UIDL"); len(got) != 2 || got[0] != first[1] {
		t.Fatalf("UIDL after DELE = %q", got)
	}
	c.ok("QUIT")
	// The next session numbers messages afresh; their UIDLs stay.
	c = dial(t, ts.addr)
	c.login("alice@example.test")
	got := c.multi("UIDL")
	want := []string{"1 " + strings.Fields(first[1])[1], "2 " + strings.Fields(first[2])[1]}
	if !slices.Equal(got, want) {
		t.Fatalf("UIDL next session = %q, want %q", got, want)
	}
}

func TestRetrByteStuffing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	msg := "Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\nmid.dle\r\n"
	ts.backend.add(1, msg)
	ts.backend.add(1, "Subject: lf\n\nbare\nlf\n.dot")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	if l := c.ok("RETR 1"); l != "+OK 44 octets" {
		t.Fatalf("RETR = %q", l)
	}
	if got, want := c.raw(), []string{"Subject: dots", "", "..", "...two", "..three", "mid.dle"}; !slices.Equal(got, want) {
		t.Fatalf("raw RETR = %q, want %q", got, want)
	}
	if got := c.multi("RETR 1"); strings.Join(got, "\r\n")+"\r\n" != msg {
		t.Fatalf("unstuffed RETR = %q", got)
	}
	c.ok("RETR 2")
	if got, want := c.raw(), []string{"Subject: lf", "", "bare", "lf", "..dot"}; !slices.Equal(got, want) {
		t.Fatalf("bare LF message = %q, want %q", got, want)
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "From: a@b\r\nSubject: top\r\n\r\nl1\r\n.l2\r\nl3\r\n")
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	for n, want := range map[int][]string{
		0:   {"From: a@b", "Subject: top", ""},
		2:   {"From: a@b", "Subject: top", "", "l1", ".l2"},
		100: {"From: a@b", "Subject: top", "", "l1", ".l2", "l3"},
	} {
		if got := c.multi("TOP 1 %d", n); !slices.Equal(got, want) {
			t.Errorf("TOP 1 %d = %q, want %q", n, got, want)
		}
	}
	c.ok("QUIT")
	if slices.Contains(ts.backend.flags(1, 1), store.FlagSeen) {
		t.Error("TOP marked the message \\Seen")
	}
}

func TestRetrMarksSeen(t *testing.T) {
	t.Parallel()
	for _, noFlags := range []bool{false, true} {
		ts := startServer(t, Config{AllowInsecureAuth: true, NoFlagUpdates: noFlags})
		for range 3 {
			ts.backend.add(1, "x\r\n")
		}
		c := dial(t, ts.addr)
		c.login("alice@example.test")
		c.multi("RETR 1")
		c.multi("RETR 2")
		c.ok("DELE 2")
		c.ok("QUIT")
		if got := slices.Contains(ts.backend.flags(1, 1), store.FlagSeen); got == noFlags {
			t.Errorf("NoFlagUpdates=%v: message 1 \\Seen = %v", noFlags, got)
		}
		if slices.Contains(ts.backend.flags(1, 3), store.FlagSeen) {
			t.Error("message 3 was not retrieved but is \\Seen")
		}
	}
}

func TestOpenFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.add(1, "x\r\n")
	ts.backend.failOpen = store.ErrUnavailable
	c := dial(t, ts.addr)
	c.login("alice@example.test")
	if l := c.cmd("RETR 1"); l != "-ERR [SYS/TEMP] Unable to read message, try again later" {
		t.Fatalf("RETR = %q", l)
	}
	ts.backend.mu.Lock()
	ts.backend.failOpen = store.ErrNotFound
	ts.backend.mu.Unlock()
	if l := c.cmd("TOP 1 0"); l != "-ERR Message no longer available" {
		t.Fatalf("TOP = %q", l)
	}
	c.ok("NOOP")
}

func TestLoginStoreFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{AllowInsecureAuth: true})
	ts.backend.failFetch = store.ErrUnavailable
	c := dial(t, ts.addr)
	c.ok("USER alice@example.test")
	if l := c.cmd("PASS alice-pw"); l != "-ERR [SYS/TEMP] Unable to open maildrop, try again later" {
		t.Fatalf("PASS = %q", l)
	}
	if ts.backend.locked(1) {
		t.Fatal("lock kept after a failed login")
	}
	ts.backend.mu.Lock()
	ts.backend.failFetch = nil
	ts.backend.mu.Unlock()
	c.login("alice@example.test")
	c.ok("QUIT")
}

package imapserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

func TestStorageKiB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		used, limit         int64
		wantUsed, wantLimit uint64
	}{
		{0, 1024, 0, 1},
		{1, 1024, 1, 1},
		{1024, 1024, 1, 1},
		{1025, 2047, 2, 1},
		{-5, 10 << 20, 0, 10240},
		{1 << 40, 1 << 41, 1 << 30, 1 << 31},
	} {
		u, l := storageKiB(tc.used, tc.limit)
		if u != tc.wantUsed || l != tc.wantLimit {
			t.Errorf("storageKiB(%d, %d) = %d, %d; want %d, %d", tc.used, tc.limit, u, l, tc.wantUsed, tc.wantLimit)
		}
	}
}

// setQuota gives alice a quota of q bytes and returns her usage.
func (e *env) setQuota(t testing.TB, q int64) int64 {
	t.Helper()
	ctx := context.Background()
	if err := e.store.UpdateAccount(ctx, e.account.ID, store.AccountUpdate{QuotaBytes: &q}); err != nil {
		t.Fatal(err)
	}
	a, err := e.store.AccountByID(ctx, e.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a.UsedBytes
}

func kib(n int64) int64 { return (n + 1023) / 1024 }

func TestQuotaCapability(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t)
	if u := r.ok("CAPABILITY"); strings.Contains(u[0], "QUOTA") {
		t.Fatalf("QUOTA before login: %q", u)
	}
	if _, tagged := r.cmd(`GETQUOTAROOT INBOX`); !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("GETQUOTAROOT before login: %s", tagged)
	}
	r.login()
	u := r.ok("CAPABILITY")
	if !strings.Contains(u[0], " QUOTA QUOTA=RES-STORAGE") {
		t.Fatalf("capabilities after login: %q", u)
	}
	// No message-count limit, no SETQUOTA: neither is advertised.
	for _, c := range []string{"QUOTA=RES-MESSAGE", "QUOTASET"} {
		if strings.Contains(u[0], c) {
			t.Fatalf("%s advertised: %q", c, u)
		}
	}
}

// GETQUOTAROOT and GETQUOTA report the account's usage (all mailboxes)
// and limit in KiB; SETQUOTA is refused.
func TestGetQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("one", strings.Repeat("x", 3000)))
	e.deliver(t, "Archive", testMsg("two", strings.Repeat("y", 2000)))
	r := e.rawTLS(t).login()
	// No limit: no quota root.
	if u := r.ok("GETQUOTAROOT INBOX"); len(u) != 1 || u[0] != "* QUOTAROOT INBOX" {
		t.Fatalf("unlimited GETQUOTAROOT: %q", u)
	}
	if _, tagged := r.cmd(`GETQUOTA ""`); !strings.HasPrefix(tagged, "NO [NONEXISTENT]") {
		t.Fatalf("unlimited GETQUOTA: %s", tagged)
	}
	used := e.setQuota(t, 100<<10)
	if used < 5000 {
		t.Fatalf("used %d bytes", used)
	}
	want := fmt.Sprintf(`* QUOTA "" (STORAGE %d 100)`, kib(used))
	if u := r.ok("GETQUOTAROOT INBOX"); len(u) != 2 || u[0] != `* QUOTAROOT INBOX ""` || u[1] != want {
		t.Fatalf("GETQUOTAROOT: %q, want %s", u, want)
	}
	if u := r.ok("GETQUOTAROOT Archive"); len(u) != 2 || u[0] != `* QUOTAROOT "Archive" ""` || u[1] != want {
		t.Fatalf("GETQUOTAROOT Archive: %q", u)
	}
	if u := r.ok(`GETQUOTA ""`); len(u) != 1 || u[0] != want {
		t.Fatalf("GETQUOTA: %q, want %s", u, want)
	}
	// The usage follows changes made elsewhere.
	e.deliver(t, "", testMsg("three", strings.Repeat("z", 4000)))
	used2 := e.setQuota(t, 100<<10)
	if u := r.ok(`GETQUOTA ""`); len(u) != 1 || u[0] != fmt.Sprintf(`* QUOTA "" (STORAGE %d 100)`, kib(used2)) {
		t.Fatalf("GETQUOTA after a delivery (%d bytes): %q", used2, u)
	}
	for _, tc := range []struct{ cmd, want string }{
		{`GETQUOTA "User quota"`, "NO [NONEXISTENT]"},
		{"GETQUOTAROOT Nowhere", "NO [NONEXISTENT]"},
		{`SETQUOTA "" (STORAGE 999999)`, "NO [NOPERM]"},
		{`SETQUOTA "" ()`, "NO [NOPERM]"},
		{`SETQUOTA "" (STORAGE)`, "BAD"},
		{`SETQUOTA "" STORAGE 1`, "BAD"},
		{"GETQUOTA", "BAD"},
		{"GETQUOTAROOT", "BAD"},
		{"GETQUOTAROOT INBOX x", "BAD"},
	} {
		if _, tagged := r.cmd(tc.cmd); !strings.HasPrefix(tagged, tc.want) {
			t.Errorf("%s: %s, want %s", tc.cmd, tagged, tc.want)
		}
	}
	// SETQUOTA changed nothing.
	if after := e.setQuota(t, 100<<10); after != used2 {
		t.Fatalf("usage %d after SETQUOTA, want %d", after, used2)
	}
	r.ok("NOOP")
}

// An APPEND that would go over quota is refused before "+": the client
// never sends the message (RFC 9208 §4.3, OVERQUOTA).
func TestAppendOverQuotaBeforeLiteral(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	used := e.setQuota(t, 2000)
	r := e.rawTLS(t).login()
	r.write(fmt.Sprintf("a APPEND INBOX {%d}\r\n", 2001-used))
	if l := r.line(); !strings.HasPrefix(l, "a NO [OVERQUOTA]") {
		t.Fatalf("APPEND over quota: %q", l)
	}
	// Exactly up to the quota: "+", then OK.
	body := testMsg("fits", "")
	body += strings.Repeat("x", 2000-len(body))
	r.write(fmt.Sprintf("b APPEND INBOX {%d}\r\n", len(body)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND within quota: %q", l)
	}
	r.write(body + "\r\n")
	if l := r.expectUntagged("b ", 5*time.Second); !strings.HasPrefix(l, "b OK [APPENDUID") {
		t.Fatalf("APPEND within quota: %q", l)
	}
	if _, tagged := r.cmd("APPEND INBOX {1+}\r\nx"); !strings.HasPrefix(tagged, "NO [OVERQUOTA]") {
		t.Fatalf("APPEND past a full quota: %s", tagged)
	}
	r.ok("NOOP")
}

// COPY over quota is refused and copies nothing; MOVE uses no more space,
// so it works even for an account already over its quota.
func TestCopyMoveQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.deliver(t, "", testMsg(fmt.Sprint("m", i), strings.Repeat("x", 1000)))
	}
	used := e.setQuota(t, 1<<20)
	e.setQuota(t, used+used/3) // room for one more message, not two
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	if _, tagged := r.cmd("COPY 1:2 Archive"); !strings.HasPrefix(tagged, "NO [OVERQUOTA]") {
		t.Fatalf("COPY over quota: %s", tagged)
	}
	if u := r.ok("STATUS Archive (MESSAGES)"); u[0] != `* STATUS "Archive" (MESSAGES 0)` {
		t.Fatalf("after a refused COPY: %q", u)
	}
	if _, tagged := r.cmd("COPY 1 Archive"); !strings.HasPrefix(tagged, "OK [COPYUID") {
		t.Fatalf("COPY within quota: %s", tagged)
	}
	e.setQuota(t, 100) // now far over
	if _, tagged := r.cmd("MOVE 2:3 Archive"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("MOVE over quota: %s", tagged)
	}
	if u := r.ok("STATUS Archive (MESSAGES)"); u[0] != `* STATUS "Archive" (MESSAGES 3)` {
		t.Fatalf("after MOVE: %q", u)
	}
	// Over quota, any COPY is refused (INBOX holds one message still).
	if _, tagged := r.cmd("UID COPY 1:* Trash"); !strings.HasPrefix(tagged, "NO [OVERQUOTA]") {
		t.Fatalf("UID COPY over quota: %s", tagged)
	}
}

// STATUS DELETED-STORAGE (RFC 9208 §4.1.4): the octets EXPUNGE would free.
func TestStatusDeletedStorage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("keep", "x"))
	e.deliver(t, "", testMsg("drop", strings.Repeat("y", 500)), `\Deleted`)
	e.deliver(t, "", testMsg("drop too", strings.Repeat("z", 700)), `\Deleted`)
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 2:3 RFC822.SIZE")
	var a, b int64
	if len(u) != 2 {
		t.Fatalf("FETCH: %q", u)
	}
	fmt.Sscanf(u[0], "* 2 FETCH (RFC822.SIZE %d)", &a)
	fmt.Sscanf(u[1], "* 3 FETCH (RFC822.SIZE %d)", &b)
	if a < 500 || b < 700 {
		t.Fatalf("sizes: %q", u)
	}
	want := fmt.Sprintf("* STATUS INBOX (MESSAGES 3 DELETED-STORAGE %d)", a+b)
	if u := r.ok("STATUS INBOX (MESSAGES DELETED-STORAGE)"); u[0] != want {
		t.Fatalf("STATUS: %q, want %s", u, want)
	}
	r.ok("EXPUNGE")
	if u := r.ok("STATUS INBOX (DELETED-STORAGE SIZE)"); !strings.Contains(u[0], "DELETED-STORAGE 0)") {
		t.Fatalf("STATUS after EXPUNGE: %q", u)
	}
}

// Python's imaplib: getquotaroot, getquota, setquota.
func TestQuotaImaplib(t *testing.T) {
	t.Parallel()
	python := testutil.Python(t, "imaplib", "python3")
	e := newEnv(t)
	e.deliver(t, "", testMsg("hello", strings.Repeat("x", 3000)))
	used := e.setQuota(t, 50<<20)
	script := `
import imaplib, ssl, sys
port, cafile, user, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
m.login(user, pw)
caps = m.capability()[1][0].decode().split()
assert "QUOTA" in caps and "QUOTA=RES-STORAGE" in caps, caps
typ, data = m.getquotaroot("INBOX")
assert typ == "OK", (typ, data)
print("root:", data[0][0].decode(), "|", data[1][0].decode())
typ, data = m.getquota('""')
assert typ == "OK", (typ, data)
print("quota:", data[0].decode())
typ, data = m.setquota('""', "(STORAGE 1)")
print("setquota:", typ, data[0].decode())
m.logout()
`
	out := run(t, python, "-c", script, port(e.tlsAddr), e.certFile(t), testUser, testPass)
	q := fmt.Sprintf(`"" (STORAGE %d 51200)`, kib(used))
	for _, want := range []string{`root: INBOX "" | ` + q, "quota: " + q, "setquota: NO [NOPERM]"} {
		if !strings.Contains(out, want) {
			t.Fatalf("imaplib: %s\nwant %s", out, want)
		}
	}
}

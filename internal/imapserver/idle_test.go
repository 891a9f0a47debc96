package imapserver

import (
	"strings"
	"testing"
	"time"
)

// Mail delivered through the store reaches an IDLE session at once.
func TestIdleDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	r.write("i IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	var worst time.Duration
	for i := 1; i <= 5; i++ {
		start := time.Now()
		e.deliver(t, "", testMsg("idle", "x"))
		r.expectUntagged(" EXISTS", 5*time.Second)
		worst = max(worst, time.Since(start))
	}
	t.Logf("delivery → EXISTS in IDLE, worst of 5 (including the store's fsynced commit): %v", worst)
	// Flags changed and messages expunged elsewhere arrive too.
	other := e.rawTLS(t).login()
	other.ok("SELECT INBOX")
	other.ok(`STORE 1 +FLAGS (\Deleted)`)
	r.expectUntagged(`* 1 FETCH (UID 1 FLAGS (\Deleted \Recent))`, 5*time.Second)
	other.ok("EXPUNGE")
	r.expectUntagged("* 1 EXPUNGE", 5*time.Second)
	r.write("DONE\r\n")
	if l := r.expectUntagged("i ", 5*time.Second); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("DONE: %q", l)
	}
	// IDLE without a selected mailbox is allowed and ends on DONE.
	r.ok("UNSELECT")
	r.write("j IDLE\r\n")
	r.line()
	r.write("DONE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "j OK") {
		t.Fatalf("IDLE unselected: %q", l)
	}
}

// Shutdown says BYE to sessions in IDLE and between commands.
func TestShutdownBye(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idle := e.rawTLS(t).login()
	idle.ok("SELECT INBOX")
	idle.write("i IDLE\r\n")
	idle.line()
	waiting := e.rawTLS(t).login()
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, r := range []*raw{idle, waiting} {
		if l := r.expectUntagged("BYE", 5*time.Second); !strings.Contains(l, "shutting down") {
			t.Fatalf("BYE: %q", l)
		}
	}
}

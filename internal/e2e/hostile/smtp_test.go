package hostile

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// inbox returns the messages of an account's INBOX.
func inbox(t *testing.T, e *testenv.Env, address string) []string {
	t.Helper()
	ctx := context.Background()
	a, err := e.Store.Account(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.Store.FetchMessages(ctx, e.Inbox(t, a.ID).ID, store.AllUIDs, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range msgs {
		rc, err := e.Store.OpenMessage(ctx, &msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, string(b))
	}
	return out
}

// SMTP smuggling (security.md 1.1): for each end-of-data sequence that is
// not CRLF.CRLF, at most one message is stored and none is "SMUGGLED".
func TestSmugglingEndings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, ending := range []string{"\n.\n", "\n.\r\n", "\r.\n", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r\n\x00.\r\n", "\n..\n", "\r\n.\n\r\n"} {
		rcpt := user // the smuggled message would be delivered
		before := len(inbox(t, e, user))
		c := dial(t, e, "smtp", "")
		c.greet()
		c.cmd("EHLO client.test", "250 ")
		c.cmd("MAIL FROM:<a@ext.test>", "250")
		c.cmd("RCPT TO:<"+user+">", "250")
		c.cmd("DATA", "354")
		ok := c.sendMaybe("Subject: a\r\n\r\nx" + ending + "MAIL FROM:<admin@example.test>\r\nRCPT TO:<" + rcpt + ">\r\nDATA\r\nSubject: SMUGGLED\r\n\r\ny\r\n.\r\n")
		got, _ := c.drain(2 * time.Second)
		c.c.Close()
		after := inbox(t, e, user)
		if n := len(after) - before; n > 1 {
			t.Errorf("ending %q: %d messages stored (replies %q)", ending, n, got)
		}
		for _, m := range after[before:] {
			if strings.Contains(m, "Subject: SMUGGLED") && !strings.Contains(m, "Subject: a") {
				t.Errorf("ending %q: smuggled message stored:\n%s", ending, m)
			}
			if bare := strings.ReplaceAll(m, "\r\n", ""); strings.ContainsAny(bare, "\r\n") {
				t.Errorf("ending %q: stored a bare CR or LF: %q", ending, m)
			}
		}
		t.Logf("ending %q: sent=%v replies %q, %d stored", ending, ok, got, len(after)-before)
	}
}

// Open relay (security.md 1.5): on port 25 every non-local recipient gets
// 5xx whatever the sender; on 587 MAIL without AUTH gets 530.
func TestOpenRelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	rcpts := []string{"<v@ext2.test>", `<"v@ext2.test">`, "<v%ext2.test@example.test>", "<@example.test:v@ext2.test>",
		"<ext2.test!v@example.test>", "<v@ext2.test@example.test>", "<v@[127.0.0.1]>", "<v@ext2.test.>", "<V@EXT2.TEST>"}
	for _, from := range []string{"<x@ext.test>", "<>", "<postmaster@example.test>", "<" + user + ">"} {
		c := dial(t, e, "smtp", "")
		c.greet()
		c.cmd("EHLO client.test", "250 ")
		c.cmd("MAIL FROM:"+from, "250")
		for _, r := range rcpts {
			c.send("RCPT TO:" + r + "\r\n")
			l, _ := c.line(10 * time.Second)
			if !strings.HasPrefix(l, "5") && !strings.HasPrefix(l, "421") {
				t.Errorf("MAIL FROM:%s RCPT TO:%s: %q, want 5xx", from, r, l)
			}
		}
	}
	for _, name := range []string{"submission", "submissions"} {
		c := dial(t, e, name, "")
		c.greet()
		c.cmd("EHLO client.test", "250 ")
		if l := c.cmd("MAIL FROM:<"+user+">", ""); !strings.HasPrefix(l, "530") {
			t.Errorf("%s: MAIL without AUTH: %q, want 530", name, l)
		}
	}
}

package imapserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/kantorpos/kantorpos/internal/store"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t)
	msg := testMsg("appended", "durable before OK")
	when := time.Date(2025, 12, 24, 18, 30, 0, 0, time.FixedZone("", 3600))
	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Draftish"}, Time: when})
	cmd.Write([]byte(msg))
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	inbox := e.mailbox(t, "INBOX")
	if data.UID != 1 || data.UIDValidity != inbox.UIDValidity {
		t.Fatalf("APPENDUID %+v", data)
	}
	// In the store when OK came back, with metadata for SEARCH and FETCH.
	ctx := context.Background()
	msgs, err := e.store.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("stored: %v %d", err, len(msgs))
	}
	m := msgs[0]
	if m.Size != int64(len(msg)) || !m.InternalDate.Equal(when) || m.Meta.Subject != "appended" ||
		len(m.Meta.Envelope) == 0 || len(m.Meta.BodyStructure) == 0 || fmt.Sprint(m.Flags) != "[\\Seen $Draftish]" {
		t.Fatalf("stored message %+v meta %+v", m, m.Meta)
	}
	if uids, _ := e.store.Search(ctx, inbox.ID, &store.SearchCriteria{Body: []string{"durable"}}); len(uids) != 1 {
		t.Fatalf("full-text index: %v", uids)
	}

	// A selected session sees its own APPEND as EXISTS.
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	body := testMsg("raw", "x")
	r.write(fmt.Sprintf("a APPEND INBOX (\\Flagged) {%d}\r\n", len(body)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("continuation: %q", l)
	}
	r.write(body + "\r\n")
	var lines []string
	for l := r.line(); ; l = r.line() {
		lines = append(lines, l)
		if strings.HasPrefix(l, "a ") {
			break
		}
	}
	if !contains(lines, "* 2 EXISTS") || !contains(lines, fmt.Sprintf("a OK [APPENDUID %d 2]", inbox.UIDValidity)) {
		t.Fatalf("APPEND: %q", lines)
	}
	// LITERAL+.
	r.write(fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s\r\n", len(body), body))
	if l := r.expectUntagged("b ", 5*time.Second); !strings.HasPrefix(l, "b OK [APPENDUID") {
		t.Fatalf("LITERAL+: %q", l)
	}

	// Missing mailbox: TRYCREATE. Too big: refused before the data is sent.
	if _, tagged := r.cmd("APPEND Nowhere {5+}\r\nhello"); !strings.HasPrefix(tagged, "NO [TRYCREATE]") {
		t.Fatalf("missing mailbox: %s", tagged)
	}
	r.write("c APPEND INBOX {99999999}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "c NO [TOOBIG]") {
		t.Fatalf("over APPENDLIMIT: %q", l)
	}
	r.ok("NOOP")
}

func TestAppendQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := int64(100)
	if err := e.store.UpdateAccount(context.Background(), e.account.ID, store.AccountUpdate{QuotaBytes: &q}); err != nil {
		t.Fatal(err)
	}
	r := e.rawTLS(t).login()
	body := testMsg("big", strings.Repeat("x", 200))
	r.write(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s\r\n", len(body), body))
	if l := r.expectUntagged("a ", 5*time.Second); !strings.HasPrefix(l, "a NO [OVERQUOTA]") {
		t.Fatalf("over quota: %q", l)
	}
	// Disk "full": a reserve larger than the free space.
	full := newEnv(t, blobReserve(1<<62))
	r = full.rawTLS(t).login()
	r.write(fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s\r\n", 10, "0123456789"))
	if l := r.expectUntagged("b ", 5*time.Second); !strings.HasPrefix(l, "b NO [LIMIT]") {
		t.Fatalf("disk full: %q", l)
	}
}

package localmail

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

func TestInject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, _ := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	st, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.AddDomain(ctx, "example.test")
	amy, _ := st.CreateAccount(ctx, "amy@example.test", "h")
	st.AddAlias(ctx, store.Alias{Address: "team@example.test", Target: "amy@example.test"})
	st.AddAlias(ctx, store.Alias{Address: "team@example.test", Target: "ext@remote.test"})
	kicked := 0
	in := &Injector{Router: router.New(st, ""), Blobs: blobs, Deliverer: st, Kick: func() { kicked++ }}
	res, err := in.Inject(ctx, "", []string{"team@example.test", "AMY@example.test", "nobody@example.test", "x@other.test", "not an address"},
		[]byte("From: MAILER-DAEMON@mx.example.test\r\nSubject: report\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Local != 1 || res.Queued != 2 || len(res.Dropped) != 2 || kicked != 1 {
		t.Fatalf("result = %+v, kicked %d", res, kicked)
	}
	inbox, _ := st.Mailbox(ctx, amy.ID, "INBOX")
	msgs, _ := st.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	if len(msgs) != 1 || msgs[0].Meta.Subject != "report" || string(msgs[0].Prefix[:15]) != "Return-Path: <>" {
		t.Fatalf("local copy = %+v", msgs)
	}
	q, _ := st.QueueEntries(ctx, store.QueueFilter{})
	for _, e := range q {
		if e.From != "" || e.Rcpts[0].Notify != "NEVER" {
			t.Fatalf("queued report must use the null sender and never ask for reports: %+v", e)
		}
	}
}

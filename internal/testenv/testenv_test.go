package testenv

import (
	"context"
	"testing"
)

func TestStartRestart(t *testing.T) {
	t.Parallel()
	e := Start(t, Options{})
	a := e.AddUser(t, "bob@example.test", "long password")
	if got := e.Inbox(t, a.ID); got.Name != "INBOX" {
		t.Fatalf("inbox = %+v", got)
	}
	dir := e.DataDir
	e.Stop()
	e2 := Start(t, Options{DataDir: dir})
	if _, err := e2.Store.Account(context.Background(), "bob@example.test"); err != nil {
		t.Fatalf("account lost across restart: %v", err)
	}
}

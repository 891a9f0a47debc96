package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func testSieveScripts(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "sieve@example.test")
	_, err := s.ActiveSieveScript(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "active script of a new account")
	must(t, s.PutSieveScript(ctx, a.ID, "one", "keep;"))
	must(t, s.PutSieveScript(ctx, a.ID, "two", "discard;"))
	must(t, s.ActivateSieveScript(ctx, a.ID, "two"))
	act, err := s.ActiveSieveScript(ctx, a.ID)
	must(t, err)
	if act.Name != "two" || act.Content != "discard;" || !act.Active || act.Updated.IsZero() {
		t.Fatalf("active = %+v", act)
	}
	// Replacing keeps the active state; activating another moves it.
	must(t, s.PutSieveScript(ctx, a.ID, "two", "stop;"))
	if act, _ := s.ActiveSieveScript(ctx, a.ID); act.Name != "two" || act.Content != "stop;" {
		t.Fatalf("after replace: %+v", act)
	}
	must(t, s.ActivateSieveScript(ctx, a.ID, "one"))
	list, err := s.SieveScripts(ctx, a.ID)
	must(t, err)
	if len(list) != 2 || list[0].Name != "one" || !list[0].Active || list[1].Active {
		t.Fatalf("list = %+v", list)
	}
	wantErr(t, s.ActivateSieveScript(ctx, a.ID, "nope"), store.ErrNotFound, "activate a missing script")
	wantErr(t, s.DeleteSieveScript(ctx, a.ID, "one"), store.ErrLocked, "delete the active script")
	must(t, s.DeleteSieveScript(ctx, a.ID, "two"))
	wantErr(t, s.DeleteSieveScript(ctx, a.ID, "two"), store.ErrNotFound, "delete twice")
	must(t, s.PutSieveScript(ctx, a.ID, "three", "keep;"))
	wantErr(t, s.RenameSieveScript(ctx, a.ID, "three", "one"), store.ErrExists, "rename onto another")
	wantErr(t, s.RenameSieveScript(ctx, a.ID, "zzz", "four"), store.ErrNotFound, "rename a missing script")
	must(t, s.RenameSieveScript(ctx, a.ID, "one", "uno"))
	if act, _ := s.ActiveSieveScript(ctx, a.ID); act.Name != "uno" {
		t.Fatalf("rename lost the active state: %+v", act)
	}
	must(t, s.ActivateSieveScript(ctx, a.ID, ""))
	_, err = s.ActiveSieveScript(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "active script after deactivating")
	wantErr(t, s.PutSieveScript(ctx, a.ID, "", "keep;"), store.ErrInvalidName, "empty name")
	wantErr(t, s.PutSieveScript(ctx, a.ID, "a\nb", "keep;"), store.ErrInvalidName, "control character")
	wantErr(t, s.PutSieveScript(ctx, a.ID, strings.Repeat("n", 200), "keep;"), store.ErrInvalidName, "long name")
	wantErr(t, s.PutSieveScript(ctx, 999999, "x", "keep;"), store.ErrNotFound, "missing account")
	for i := 2; i < store.MaxSieveScripts; i++ {
		must(t, s.PutSieveScript(ctx, a.ID, "s"+strings.Repeat("x", i), "keep;"))
	}
	wantErr(t, s.PutSieveScript(ctx, a.ID, "one too many", "keep;"), store.ErrQuotaExceeded, "script count")

	// Errors are recorded for the user page, and cleared by an upload.
	must(t, s.SetSieveError(ctx, a.ID, "uno", "line 3: boom"))
	sc, err := s.SieveScript(ctx, a.ID, "uno")
	must(t, err)
	if sc.LastError != "line 3: boom" || sc.LastErrorAt.IsZero() {
		t.Fatalf("error not recorded: %+v", sc)
	}
	must(t, s.PutSieveScript(ctx, a.ID, "uno", "keep;"))
	if sc, _ := s.SieveScript(ctx, a.ID, "uno"); sc.LastError != "" {
		t.Fatalf("upload kept the old error: %+v", sc)
	}
	// The account takes its scripts along.
	must(t, s.DeleteAccount(ctx, a.Address))
	again := account(t, e, "sieve@example.test")
	if l, _ := s.SieveScripts(ctx, again.ID); len(l) != 0 {
		t.Fatalf("scripts survived the account: %+v", l)
	}
}

func testVacationReply(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "vac@example.test")
	b := account(t, e, "vac2@example.test")
	reply := func(acc store.Account, handle, sender string) bool {
		t.Helper()
		ok, err := s.VacationReply(ctx, acc.ID, handle, sender, 24*time.Hour)
		must(t, err)
		return ok
	}
	if !reply(a, "h", "x@example.org") {
		t.Fatal("first reply refused")
	}
	if reply(a, "h", "x@example.org") {
		t.Fatal("second reply within the period allowed")
	}
	if !reply(a, "h", "y@example.org") || !reply(a, "other", "x@example.org") || !reply(b, "h", "x@example.org") {
		t.Fatal("another sender, handle or account was refused")
	}
	e.Clock.Advance(25 * time.Hour)
	if !reply(a, "h", "x@example.org") {
		t.Fatal("reply after the period refused")
	}
	if reply(a, "h", "x@example.org") {
		t.Fatal("the renewed reply did not restart the period")
	}
}

package storetest

import (
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func testAdminFlag(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "boss@example.test")
	if a.Admin {
		t.Fatal("new account is an administrator")
	}
	on, off := true, false
	must(t, s.UpdateAccount(ctx, a.ID, store.AccountUpdate{Admin: &on}))
	if got, err := s.Account(ctx, a.Address); err != nil || !got.Admin {
		t.Fatalf("after admin on: %+v %v", got, err)
	}
	if as, _ := s.Accounts(ctx, ""); len(as) != 1 || !as[0].Admin {
		t.Fatalf("Accounts = %+v", as)
	}
	must(t, s.UpdateAccount(ctx, a.ID, store.AccountUpdate{Admin: &off}))
	if got, _ := s.AccountByID(ctx, a.ID); got.Admin {
		t.Fatal("admin flag not cleared")
	}
	wantErr(t, s.UpdateAccount(ctx, 999999, store.AccountUpdate{Admin: &on}), store.ErrNotFound, "admin flag of a missing account")
}

func testAPITokens(t *testing.T, e Env) {
	s := e.Store
	tok, err := s.AddAPIToken(ctx, "backup-script", "aa11")
	must(t, err)
	if tok.ID == 0 || tok.Name != "backup-script" || tok.Created.IsZero() {
		t.Fatalf("AddAPIToken = %+v", tok)
	}
	_, err = s.AddAPIToken(ctx, "backup-script", "bb22")
	wantErr(t, err, store.ErrExists, "duplicate token name")
	_, err = s.AddAPIToken(ctx, "", "cc33")
	wantErr(t, err, store.ErrInvalidName, "empty token name")
	_, err = s.AddAPIToken(ctx, "monitoring", "dd44")
	must(t, err)
	got, err := s.APITokenByHash(ctx, "aa11")
	must(t, err)
	if got.ID != tok.ID || got.Name != "backup-script" {
		t.Fatalf("APITokenByHash = %+v", got)
	}
	_, err = s.APITokenByHash(ctx, "ffff")
	wantErr(t, err, store.ErrNotFound, "unknown token hash")
	list, err := s.APITokens(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "backup-script" || list[1].Name != "monitoring" {
		t.Fatalf("APITokens = %+v", list)
	}
	must(t, s.DeleteAPIToken(ctx, "backup-script"))
	wantErr(t, s.DeleteAPIToken(ctx, "backup-script"), store.ErrNotFound, "delete a deleted token")
	_, err = s.APITokenByHash(ctx, "aa11")
	wantErr(t, err, store.ErrNotFound, "deleted token still found")
}

func testAccountSettings(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "away@example.test")
	st, err := s.AccountSettings(ctx, a.ID)
	must(t, err)
	if st.ForwardTo != "" || !st.ForwardKeep || st.AwayEnabled {
		t.Fatalf("default settings = %+v", st)
	}
	want := store.AccountSettings{ForwardTo: "me@elsewhere.test", ForwardKeep: false, AwayEnabled: true,
		AwaySubject: "Away", AwayBody: "Back on Monday.\nÜmlauts too."}
	must(t, s.SetAccountSettings(ctx, a.ID, want))
	st, err = s.AccountSettings(ctx, a.ID)
	must(t, err)
	if st.ForwardTo != want.ForwardTo || st.ForwardKeep || !st.AwayEnabled || st.AwaySubject != "Away" ||
		st.AwayBody != want.AwayBody || st.Updated.IsZero() {
		t.Fatalf("settings = %+v", st)
	}
	want.AwayEnabled = false
	must(t, s.SetAccountSettings(ctx, a.ID, want))
	if st, _ := s.AccountSettings(ctx, a.ID); st.AwayEnabled {
		t.Fatal("second SetAccountSettings did not replace the first")
	}
	wantErr(t, s.SetAccountSettings(ctx, 999999, want), store.ErrNotFound, "settings of a missing account")
	_, err = s.AccountSettings(ctx, 999999)
	wantErr(t, err, store.ErrNotFound, "settings of a missing account")
	// Deleting the account takes its settings along.
	must(t, s.DeleteAccount(ctx, a.Address))
	again := account(t, e, "away@example.test")
	if st, _ := s.AccountSettings(ctx, again.ID); st.AwayEnabled || st.ForwardTo != "" {
		t.Fatalf("settings survived the account: %+v", st)
	}
}

func testQueueStats(t *testing.T, e Env) {
	s := e.Store
	st, err := s.QueueStats(ctx)
	must(t, err)
	if st.Entries != 0 || st.Deferred != 0 || !st.Oldest.IsZero() {
		t.Fatalf("empty queue stats = %+v", st)
	}
	created := e.Clock.Now()
	enqueue(t, e, "a.test", "b.test")
	e.Clock.Advance(time.Minute)
	enqueue(t, e, "c.test")
	l, err := s.LeaseQueue(ctx, e.Clock.Now(), "n", time.Minute, 1)
	must(t, err)
	if len(l) != 1 {
		t.Fatalf("lease = %+v", l)
	}
	_, err = s.RecordAttempt(ctx, l[0].ID, "n", store.AttemptResult{At: e.Clock.Now(), NextAttempt: e.Clock.Now().Add(time.Hour),
		LastError: "451 later", Rcpts: map[int64]store.RcptUpdate{l[0].Rcpts[0].ID: {Status: store.RcptPending, Code: 451}}})
	must(t, err)
	st, err = s.QueueStats(ctx)
	must(t, err)
	if st.Entries != 3 || st.Deferred != 1 || !st.Oldest.Equal(created) {
		t.Fatalf("queue stats = %+v (oldest want %v)", st, created)
	}
}

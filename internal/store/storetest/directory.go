package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func testDomains(t *testing.T, e Env) {
	s := e.Store
	must(t, s.AddDomain(ctx, "Example.TEST"))
	wantErr(t, s.AddDomain(ctx, "example.test"), store.ErrExists, "duplicate domain")
	must(t, s.AddDomain(ctx, "other.test"))
	ds, err := s.Domains(ctx)
	must(t, err)
	if len(ds) != 2 || ds[0].Name != "example.test" || ds[1].Name != "other.test" {
		t.Fatalf("Domains = %+v", ds)
	}
	if ok, _ := s.HasDomain(ctx, "EXAMPLE.test"); !ok {
		t.Fatal("HasDomain is case-sensitive")
	}
	if ok, _ := s.HasDomain(ctx, "nope.test"); ok {
		t.Fatal("HasDomain(nope)")
	}
	account(t, e, "u@example.test")
	wantErr(t, s.DeleteDomain(ctx, "example.test"), store.ErrNotEmpty, "delete domain with accounts")
	must(t, s.AddAlias(ctx, store.Alias{Address: "a@other.test", Target: "x@ext.test"}))
	wantErr(t, s.DeleteDomain(ctx, "other.test"), store.ErrNotEmpty, "delete domain with aliases")
	must(t, s.DeleteAlias(ctx, "a@other.test", ""))
	must(t, s.DeleteDomain(ctx, "other.test"))
	wantErr(t, s.DeleteDomain(ctx, "other.test"), store.ErrNotFound, "delete missing domain")
	wantErr(t, s.AddDomain(ctx, "bad domain"), store.ErrInvalidName, "invalid domain")
}

func testAccounts(t *testing.T, e Env) {
	s := e.Store
	_, err := s.CreateAccount(ctx, "u@nodomain.test", "h")
	wantErr(t, err, store.ErrNotFound, "account in unknown domain")
	a := account(t, e, "Bob@Example.test")
	if a.Address != "bob@example.test" || a.Domain != "example.test" || a.ID == 0 {
		t.Fatalf("account = %+v", a)
	}
	_, err = s.CreateAccount(ctx, "BOB@example.test", "h")
	wantErr(t, err, store.ErrExists, "duplicate account")
	got, err := s.Account(ctx, "BOB@EXAMPLE.TEST")
	must(t, err)
	if got.ID != a.ID || got.PasswordHash != "$argon2id$test" {
		t.Fatalf("Account = %+v", got)
	}
	if _, err := s.Account(ctx, "nobody@example.test"); err == nil {
		t.Fatal("unknown account found")
	}
	// Default mailboxes with their special-use attributes, subscribed.
	mbs, err := s.Mailboxes(ctx, a.ID)
	must(t, err)
	want := map[string]string{}
	for _, d := range store.DefaultMailboxes {
		want[d.Name] = d.SpecialUse
	}
	if len(mbs) != len(want) {
		t.Fatalf("mailboxes = %+v", mbs)
	}
	uidvs := map[uint32]bool{}
	for _, m := range mbs {
		if su, ok := want[m.Name]; !ok || su != m.SpecialUse || !m.Subscribed || m.UIDNext != 1 {
			t.Errorf("mailbox %+v", m)
		}
		uidvs[m.UIDValidity] = true
	}
	if len(uidvs) != len(mbs) {
		t.Errorf("UIDVALIDITY values repeat: %v", uidvs)
	}
	must(t, s.SetPasswordHash(ctx, a.ID, "new"))
	disabled, quota := true, int64(1000)
	must(t, s.UpdateAccount(ctx, a.ID, store.AccountUpdate{Disabled: &disabled, QuotaBytes: &quota}))
	got, err = s.AccountByID(ctx, a.ID)
	must(t, err)
	if got.PasswordHash != "new" || !got.Disabled || got.QuotaBytes != 1000 {
		t.Fatalf("after update: %+v", got)
	}
	account(t, e, "amy@example.test")
	account(t, e, "zed@other.test")
	list, err := s.Accounts(ctx, "example.test")
	must(t, err)
	if len(list) != 2 || list[0].Address != "amy@example.test" {
		t.Fatalf("Accounts(example.test) = %+v", list)
	}
	all, _ := s.Accounts(ctx, "")
	if len(all) != 3 {
		t.Fatalf("Accounts() = %d", len(all))
	}
	wantErr(t, s.SetPasswordHash(ctx, 99999, "x"), store.ErrNotFound, "password of missing account")
}

func testAliases(t *testing.T, e Env) {
	s := e.Store
	account(t, e, "bob@example.test")
	must(t, s.AddAlias(ctx, store.Alias{Address: "Sales@example.test", Target: "bob@example.test"}))
	must(t, s.AddAlias(ctx, store.Alias{Address: "sales@example.test", Target: "ext@remote.test"}))
	wantErr(t, s.AddAlias(ctx, store.Alias{Address: "sales@example.test", Target: "BOB@example.test"}), store.ErrExists, "duplicate alias")
	must(t, s.AddAlias(ctx, store.Alias{Address: "@example.test", Target: "bob@example.test"}))
	wantErr(t, s.AddAlias(ctx, store.Alias{Address: "x@unknown.test", Target: "bob@example.test"}), store.ErrNotFound, "alias in unknown domain")
	wantErr(t, s.AddAlias(ctx, store.Alias{Address: "x@example.test", Target: "nodomain"}), store.ErrInvalidName, "alias to non-address")
	targets, err := s.AliasTargets(ctx, "SALES@example.test")
	must(t, err)
	if strings.Join(targets, ",") != "bob@example.test,ext@remote.test" {
		t.Fatalf("targets = %v", targets)
	}
	if tg, _ := s.AliasTargets(ctx, "@example.test"); len(tg) != 1 {
		t.Fatalf("catch-all targets = %v", tg)
	}
	if tg, _ := s.AliasTargets(ctx, "none@example.test"); tg != nil {
		t.Fatalf("non-alias targets = %v", tg)
	}
	list, _ := s.Aliases(ctx, "example.test")
	if len(list) != 3 {
		t.Fatalf("Aliases = %v", list)
	}
	must(t, s.DeleteAlias(ctx, "sales@example.test", "ext@remote.test"))
	if tg, _ := s.AliasTargets(ctx, "sales@example.test"); len(tg) != 1 {
		t.Fatalf("after delete one: %v", tg)
	}
	wantErr(t, s.DeleteAlias(ctx, "none@example.test", ""), store.ErrNotFound, "delete missing alias")
}

func testDKIMKeys(t *testing.T, e Env) {
	s := e.Store
	must(t, s.AddDomain(ctx, "example.test"))
	now := e.Clock.Now()
	k := store.DKIMKey{Domain: "example.test", Selector: "s1", Algorithm: "ed25519", PrivateKeyPEM: []byte("PEM"), Created: now}
	must(t, s.AddDKIMKey(ctx, k))
	wantErr(t, s.AddDKIMKey(ctx, k), store.ErrExists, "duplicate key")
	k2 := k
	k2.Selector, k2.Algorithm, k2.Created = "s2", "rsa", now.Add(time.Hour)
	must(t, s.AddDKIMKey(ctx, k2))
	must(t, s.RetireDKIMKey(ctx, "example.test", "s1", now.Add(2*time.Hour)))
	keys, err := s.DKIMKeys(ctx, "example.test")
	must(t, err)
	if len(keys) != 2 || keys[0].Selector != "s1" || keys[0].Retired == nil || !keys[0].Retired.Equal(now.Add(2*time.Hour)) ||
		keys[1].Retired != nil || string(keys[1].PrivateKeyPEM) != "PEM" {
		t.Fatalf("keys = %+v", keys)
	}
	must(t, s.DeleteDKIMKey(ctx, "example.test", "s1"))
	wantErr(t, s.DeleteDKIMKey(ctx, "example.test", "s1"), store.ErrNotFound, "delete missing key")
}

package admin

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func TestAccountOps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOps(t)
	if err := o.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"carol@example.test", "bob@example.test", "alice@example.test"} {
		if _, err := o.AddUser(ctx, a, "a good password"); err != nil {
			t.Fatal(err)
		}
	}
	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustOK(o.SetQuota(ctx, "Bob@example.test", 1<<20))
	mustOK(o.SetDisabled(ctx, "bob@example.test", true))
	mustOK(o.SetAdmin(ctx, "alice@example.test", true))
	bob, err := o.Account(ctx, "bob@example.test")
	mustOK(err)
	if bob.QuotaBytes != 1<<20 || !bob.Disabled || bob.Admin {
		t.Fatalf("bob = %+v", bob)
	}
	if a, _ := o.Account(ctx, "alice@example.test"); !a.Admin {
		t.Fatal("alice is not an administrator")
	}
	var ae *Error
	if err := o.SetQuota(ctx, "bob@example.test", -1); !errors.As(err, &ae) {
		t.Fatalf("negative quota: %v", err)
	}
	if err := o.SetDisabled(ctx, "nobody@example.test", true); !errors.As(err, &ae) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disable unknown: %v", err)
	}

	// Search and paging.
	p, err := o.FindUsers(ctx, ListQuery{Search: "O", Limit: 1})
	mustOK(err)
	if p.Total != 2 || len(p.Items) != 1 || p.Items[0].Address != "bob@example.test" {
		t.Fatalf("page 1 = %+v", p)
	}
	p, _ = o.FindUsers(ctx, ListQuery{Search: "o", Offset: 1, Limit: 1})
	if len(p.Items) != 1 || p.Items[0].Address != "carol@example.test" {
		t.Fatalf("page 2 = %+v", p)
	}
	p, _ = o.FindUsers(ctx, ListQuery{Offset: 10})
	if p.Total != 3 || len(p.Items) != 0 {
		t.Fatalf("past the end = %+v", p)
	}
	dp, _ := o.FindDomains(ctx, ListQuery{Search: "none"})
	if dp.Total != 0 {
		t.Fatalf("domains = %+v", dp)
	}

	// Settings of the user's own page.
	mustOK(o.SetSettings(ctx, "carol@example.test", store.AccountSettings{ForwardTo: " Carol@Elsewhere.test ", ForwardKeep: true,
		AwayEnabled: true, AwaySubject: "Away", AwayBody: "Back soon."}))
	st, err := o.Settings(ctx, "carol@example.test")
	mustOK(err)
	if st.ForwardTo != "Carol@elsewhere.test" || !st.AwayEnabled || st.AwayBody != "Back soon." {
		t.Fatalf("settings = %+v", st)
	}
	for _, bad := range []store.AccountSettings{
		{ForwardTo: "not an address"},
		{ForwardTo: "carol@example.test"},
		{AwayEnabled: true},
		{AwaySubject: "two\nlines"},
		{AwayBody: strings.Repeat("x", MaxAwayBody+1)},
	} {
		if err := o.SetSettings(ctx, "carol@example.test", bad); !errors.As(err, &ae) {
			t.Errorf("SetSettings(%+v) = %v", bad, err)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOps(t)
	secret, err := o.AddToken(ctx, "monitoring")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) < 40 {
		t.Fatalf("secret %q", secret)
	}
	if _, err := o.AddToken(ctx, "monitoring"); err == nil {
		t.Fatal("duplicate token name accepted")
	}
	if _, err := o.AddToken(ctx, "two words"); err == nil {
		t.Fatal("bad token name accepted")
	}
	tok, err := o.CheckToken(ctx, secret)
	if err != nil || tok.Name != "monitoring" {
		t.Fatalf("CheckToken = %+v, %v", tok, err)
	}
	list, _ := o.Tokens(ctx)
	if len(list) != 1 || list[0].Hash == secret || strings.Contains(list[0].Hash, secret) {
		t.Fatalf("tokens = %+v", list)
	}
	for _, bad := range []string{"", "kpt_nope", secret + "x", strings.TrimPrefix(secret, TokenPrefix)} {
		if _, err := o.CheckToken(ctx, bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("CheckToken(%q) = %v", bad, err)
		}
	}
	if err := o.DeleteToken(ctx, "monitoring"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.CheckToken(ctx, secret); !errors.Is(err, ErrBadToken) {
		t.Fatalf("revoked token still works: %v", err)
	}
	if err := o.DeleteToken(ctx, "monitoring"); err == nil {
		t.Fatal("deleting a deleted token succeeded")
	}
}

type fakeRuntime struct{ now time.Time }

func (f fakeRuntime) Listeners() []Listener { return []Listener{{"smtp", "127.0.0.1:25"}} }
func (f fakeRuntime) EventsToday() map[string]int64 {
	return map[string]int64{"received": 3, "delivered": 2}
}
func (f fakeRuntime) Certificate() *x509.Certificate {
	n := pkix.Name{CommonName: "mx.example.test"}
	return &x509.Certificate{Subject: n, Issuer: n, NotAfter: f.now.Add(90 * 24 * time.Hour), DNSNames: []string{"mx.example.test"}}
}
func (f fakeRuntime) Disk() (Disk, error) {
	return Disk{Path: "/data", UsedBytes: 10, FreeBytes: 20}, nil
}
func (f fakeRuntime) Started() time.Time { return f.now.Add(-time.Hour) }

func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOps(t)
	st, err := o.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queue.Entries != 0 || st.Cert != nil || len(st.Listeners) != 0 {
		t.Fatalf("status without runtime = %+v", st)
	}
	o.AddDomain(ctx, "example.test")
	o.Runtime = fakeRuntime{now: time.Now()}
	st, err = o.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Domains != 1 || st.Today["received"] != 3 || len(st.Listeners) != 1 || st.Disk == nil || st.Disk.FreeBytes != 20 ||
		st.Cert == nil || !st.Cert.SelfSigned || st.Cert.DaysLeft < 89 {
		t.Fatalf("status = %+v", st)
	}
}

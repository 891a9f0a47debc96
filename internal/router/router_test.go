package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/srs"
	"github.com/kantorpos/kantorpos/internal/store"
)

// fakeDir is a map-backed Directory. Lookups are by lower-case key, as the
// real store does.
type fakeDir struct {
	domains  map[string]bool
	accounts map[string]store.Account
	aliases  map[string][]string
	fail     error // returned by every lookup when set
}

func (d *fakeDir) HasDomain(ctx context.Context, name string) (bool, error) {
	if d.fail != nil {
		return false, d.fail
	}
	return d.domains[strings.ToLower(name)], nil
}

func (d *fakeDir) Account(ctx context.Context, address string) (store.Account, error) {
	if d.fail != nil {
		return store.Account{}, d.fail
	}
	a, ok := d.accounts[strings.ToLower(address)]
	if !ok {
		return store.Account{}, fmt.Errorf("account %s: %w", address, store.ErrNotFound)
	}
	return a, nil
}

func (d *fakeDir) AliasTargets(ctx context.Context, address string) ([]string, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	return d.aliases[strings.ToLower(address)], nil
}

func testDir() *fakeDir {
	d := &fakeDir{
		domains:  map[string]bool{"local.test": true, "other.test": true, "catch.test": true},
		accounts: map[string]store.Account{},
		aliases: map[string][]string{
			"info@local.test":       {"alice@local.test", "bob@local.test"},
			"team@local.test":       {"info@local.test", "carol@local.test", "Alice@Local.Test"},
			"fwd@local.test":        {"someone@ext.test"},
			"mixed@local.test":      {"alice@local.test", "v@ext.test", "V@EXT.test"},
			"alice+news@local.test": {"bob@local.test"},
			"bob@local.test":        {"bob@local.test", "bob@ext.test"}, // keep a copy and forward
			"loop1@local.test":      {"loop2@local.test"},
			"loop2@local.test":      {"loop1@local.test"},
			"self@local.test":       {"self@local.test"},
			"ghost@local.test":      {"nobody@local.test", "not an address"},
			"partial@local.test":    {"nobody@local.test", "alice@local.test"},
			"lit@local.test":        {"x@[127.0.0.1]"},
			"off@local.test":        {"disabled@local.test"},
			"postmaster@other.test": {"carol@local.test"},
			"@catch.test":           {"carol@local.test"},
			"@other.test":           {"alice@local.test"},
			"d0@local.test":         {"d1@local.test"},
		},
	}
	// A chain deeper than DefaultMaxDepth.
	for i := 1; i <= DefaultMaxDepth+1; i++ {
		d.aliases[fmt.Sprintf("d%d@local.test", i)] = []string{fmt.Sprintf("d%d@local.test", i+1)}
	}
	for i, a := range []string{"alice@local.test", "bob@local.test", "carol@local.test", "admin@local.test", "real@catch.test", "disabled@local.test"} {
		d.accounts[a] = store.Account{ID: int64(i + 1), Address: a, Domain: a[strings.IndexByte(a, '@')+1:], Disabled: a == "disabled@local.test"}
	}
	return d
}

func TestResolve(t *testing.T) {
	t.Parallel()
	r := New(testDir(), "admin@local.test")
	tests := []struct {
		addr     string
		status   Status
		local    []string // account addresses, in order
		remote   []string
		implicit bool
		tag      string // tag of the first local target
		err      error
	}{
		{addr: "alice@local.test", status: Deliver, local: []string{"alice@local.test"}},
		{addr: "ALICE@Local.Test", status: Deliver, local: []string{"alice@local.test"}},
		{addr: "alice+shop@local.test", status: Deliver, local: []string{"alice@local.test"}, tag: "shop"},
		{addr: "alice+news@local.test", status: Deliver, local: []string{"bob@local.test"}, remote: []string{"bob@ext.test"}},
		{addr: "nobody@local.test", status: UnknownUser},
		{addr: "nobody+x@local.test", status: UnknownUser},
		{addr: "v@ext.test", status: NotOurs},
		{addr: "v@[127.0.0.1]", status: NotOurs},
		{addr: "v%ext.test@local.test", status: UnknownUser},
		{addr: "ext.test!v@local.test", status: UnknownUser},
		{addr: "info@local.test", status: Deliver, local: []string{"alice@local.test", "bob@local.test"}, remote: []string{"bob@ext.test"}},
		{addr: "team@local.test", status: Deliver, local: []string{"alice@local.test", "bob@local.test", "carol@local.test"}, remote: []string{"bob@ext.test"}},
		{addr: "fwd@local.test", status: Deliver, remote: []string{"someone@ext.test"}},
		{addr: "mixed@local.test", status: Deliver, local: []string{"alice@local.test"}, remote: []string{"v@ext.test", "V@ext.test"}},
		{addr: "bob@local.test", status: Deliver, local: []string{"bob@local.test"}, remote: []string{"bob@ext.test"}},
		{addr: "loop1@local.test", err: ErrLoop},
		{addr: "self@local.test", err: ErrLoop},
		{addr: "d0@local.test", err: ErrLoop},
		{addr: "ghost@local.test", status: UnknownUser},
		{addr: "partial@local.test", status: Deliver, local: []string{"alice@local.test"}},
		{addr: "lit@local.test", status: UnknownUser},
		{addr: "disabled@local.test", status: Disabled},
		{addr: "off@local.test", status: UnknownUser},
		// postmaster: the configured address, an alias, any case.
		{addr: "postmaster@local.test", status: Deliver, local: []string{"admin@local.test"}, implicit: true},
		{addr: "PostMaster@catch.test", status: Deliver, local: []string{"admin@local.test"}, implicit: true},
		{addr: "postmaster@other.test", status: Deliver, local: []string{"carol@local.test"}},
		// catch-all: only when nothing else matches; an account wins.
		{addr: "anything@catch.test", status: Deliver, local: []string{"carol@local.test"}, implicit: true},
		{addr: "real@catch.test", status: Deliver, local: []string{"real@catch.test"}},
		{addr: "Real+tag@catch.test", status: Deliver, local: []string{"real@catch.test"}, tag: "tag"},
		{addr: "x@other.test", status: Deliver, local: []string{"alice@local.test"}, implicit: true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			res, err := r.Resolve(context.Background(), mailaddr.MustParse(tc.addr))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status {
				t.Errorf("status = %v, want %v", res.Status, tc.status)
			}
			var local, remote []string
			for _, l := range res.Local {
				local = append(local, l.Account.Address)
			}
			for _, a := range res.Remote {
				remote = append(remote, a.String())
			}
			if !slices.Equal(local, tc.local) {
				t.Errorf("local = %v, want %v", local, tc.local)
			}
			if !slices.Equal(remote, tc.remote) {
				t.Errorf("remote = %v, want %v", remote, tc.remote)
			}
			if res.Implicit != tc.implicit {
				t.Errorf("implicit = %v, want %v", res.Implicit, tc.implicit)
			}
			if tc.tag != "" && (len(res.Local) == 0 || res.Local[0].Tag != tc.tag) {
				t.Errorf("tag: %+v, want %q", res.Local, tc.tag)
			}
		})
	}
}

func TestResolveDeliveredToAddress(t *testing.T) {
	t.Parallel()
	r := New(testDir(), "")
	res, err := r.Resolve(context.Background(), mailaddr.MustParse("Alice+Shop@local.test"))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Local[0].Address; got != "Alice+Shop@local.test" {
		t.Errorf("Address = %q", got)
	}
}

func TestPostmasterUnconfigured(t *testing.T) {
	t.Parallel()
	r := New(testDir(), "")
	res, err := r.Resolve(context.Background(), mailaddr.MustParse("postmaster@local.test"))
	if err != nil || res.Status != UnknownUser {
		t.Fatalf("got %+v, %v; want UnknownUser", res, err)
	}
	// A remote postmaster address is a remote target.
	r.Postmaster = "ops@ext.test"
	res, err = r.Resolve(context.Background(), mailaddr.MustParse("postmaster@local.test"))
	if err != nil || res.Status != Deliver || len(res.Remote) != 1 || res.Remote[0].String() != "ops@ext.test" {
		t.Fatalf("got %+v, %v", res, err)
	}
}

// TestResolvePostmaster: "RCPT TO:<Postmaster>" without a domain (RFC 5321
// 4.5.1) is postmaster@ the primary domain: the host name or its nearest
// parent that is ours, else the configured postmaster's domain, else the
// configured postmaster itself.
func TestResolvePostmaster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, hostname, postmaster string
		addr                       string // resolved address
		status                     Status
		local, remote              []string
	}{
		{"host in our domain", "mx.other.test", "admin@local.test", "postmaster@other.test", Deliver, []string{"carol@local.test"}, nil},
		{"host is our domain", "Local.Test.", "admin@local.test", "postmaster@local.test", Deliver, []string{"admin@local.test"}, nil},
		{"fallback at the domain", "mx.local.test", "ops@ext.test", "postmaster@local.test", Deliver, nil, []string{"ops@ext.test"}},
		{"postmaster's domain", "mx.provider.test", "admin@local.test", "postmaster@local.test", Deliver, []string{"admin@local.test"}, nil},
		{"remote postmaster", "mx.provider.test", "ops@ext.test", "ops@ext.test", Deliver, nil, []string{"ops@ext.test"}},
		{"nothing configured", "mx.provider.test", "", "", UnknownUser, nil, nil},
		{"no postmaster at the domain", "mx.local.test", "", "postmaster@local.test", UnknownUser, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := New(testDir(), tt.postmaster)
			addr, res, err := r.ResolvePostmaster(context.Background(), tt.hostname)
			if err != nil || addr.String() != tt.addr || res.Status != tt.status {
				t.Fatalf("got %q %v %v, want %q %v", addr.String(), res.Status, err, tt.addr, tt.status)
			}
			var local, remote []string
			for _, l := range res.Local {
				local = append(local, l.Account.Address)
			}
			for _, a := range res.Remote {
				remote = append(remote, a.String())
			}
			if !slices.Equal(local, tt.local) || !slices.Equal(remote, tt.remote) {
				t.Errorf("local %v remote %v, want %v %v", local, remote, tt.local, tt.remote)
			}
			if res.Status == Deliver && !res.Implicit && tt.name != "host in our domain" {
				t.Errorf("not marked implicit: submission must not let a user send as it")
			}
		})
	}
	d := testDir()
	d.fail = fmt.Errorf("db down: %w", store.ErrUnavailable)
	if _, _, err := New(d, "admin@local.test").ResolvePostmaster(context.Background(), "mx.local.test"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("lookup failure: %v", err)
	}
}

func TestLookupErrorIsReturned(t *testing.T) {
	t.Parallel()
	d := testDir()
	d.fail = fmt.Errorf("db down: %w", store.ErrUnavailable)
	_, err := New(d, "").Resolve(context.Background(), mailaddr.MustParse("alice@local.test"))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestMaxDepth(t *testing.T) {
	t.Parallel()
	r := New(testDir(), "")
	r.MaxDepth = 2
	if _, err := r.Resolve(context.Background(), mailaddr.MustParse("d7@local.test")); !errors.Is(err, ErrLoop) {
		t.Fatalf("err = %v, want ErrLoop", err)
	}
	if res, err := r.Resolve(context.Background(), mailaddr.MustParse("team@local.test")); err != nil || res.Status != Deliver {
		t.Fatalf("team: %+v %v", res, err)
	}
}

// Bounces to addresses our forwarding rewrote (SRS) go back to the
// original sender; forged or expired ones are unknown users.
func TestSRSReversal(t *testing.T) {
	t.Parallel()
	s := &srs.SRS{Secret: []byte("router test secret, long enough")}
	r := New(testDir(), "")
	r.SRS = s
	fwd, _ := s.Forward("someone@ext.test", "local.test")
	loc, _ := s.Forward("alice@local.test", "other.test") // one of ours, rewritten by another domain of ours
	tests := []struct {
		addr   string
		status Status
		remote string
		local  string
	}{
		{fwd, Deliver, "someone@ext.test", ""},
		{strings.ToLower(fwd), Deliver, "someone@ext.test", ""},
		{strings.Replace(fwd, "=someone", "=mallory", 1), UnknownUser, "", ""},
		{"SRS0=xxxx=AA=ext.test=someone@local.test", UnknownUser, "", ""},
		{loc, Deliver, "", "alice@local.test"},
		{"alice@local.test", Deliver, "", "alice@local.test"},
	}
	for _, tt := range tests {
		a, err := mailaddr.Parse(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Resolve(context.Background(), a)
		if err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		var remote, local string
		if len(res.Remote) == 1 {
			remote = res.Remote[0].String()
		}
		if len(res.Local) == 1 {
			local = res.Local[0].Address
		}
		if res.Status != tt.status || remote != tt.remote || local != tt.local {
			t.Errorf("%s: %v remote %q local %q; want %v %q %q", tt.addr, res.Status, remote, local, tt.status, tt.remote, tt.local)
		}
	}
	// Without SRS configured, such an address is an ordinary unknown user.
	plain := New(testDir(), "")
	a, _ := mailaddr.Parse(fwd)
	if res, _ := plain.Resolve(context.Background(), a); res.Status != UnknownUser {
		t.Fatalf("without SRS: %v", res.Status)
	}
}

package admin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

func newOps(t *testing.T) *Ops {
	t.Helper()
	dir := t.TempDir()
	b, _ := blob.NewFS(filepath.Join(dir, "blobs"), 0)
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "db"), Blobs: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &Ops{Store: s, Hasher: auth.NewHasher(auth.TestParams),
		NewDKIMKeys: func(d string, now time.Time) ([]store.DKIMKey, error) {
			return []store.DKIMKey{{Domain: d, Selector: "s1", Algorithm: "ed25519", PrivateKeyPEM: []byte("k"), Created: now}}, nil
		}}
}

func TestOps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOps(t)
	steps := []struct {
		name string
		do   func() error
		want string // "" = success, else a substring of the error
	}{
		{"add domain", func() error { return o.AddDomain(ctx, "Example.TEST") }, ""},
		{"duplicate domain", func() error { return o.AddDomain(ctx, "example.test") }, "already exists"},
		{"bad domain", func() error { return o.AddDomain(ctx, "not a domain") }, "not a valid domain"},
		{"user in unknown domain", func() error { _, err := o.AddUser(ctx, "a@nowhere.test", "long enough pw"); return err }, "kantorpos domain add nowhere.test"},
		{"empty password", func() error { _, err := o.AddUser(ctx, "bob@example.test", ""); return err }, "too weak"},
		{"weak password", func() error { _, err := o.AddUser(ctx, "bob@example.test", "short"); return err }, "shorter than 8"},
		{"bad address", func() error { _, err := o.AddUser(ctx, "bob+tag@example.test", "long enough pw"); return err }, "not a valid account"},
		{"add user", func() error { _, err := o.AddUser(ctx, "Bob@Example.test", "long enough pw"); return err }, ""},
		{"duplicate user", func() error { _, err := o.AddUser(ctx, "bob@example.test", "long enough pw"); return err }, "already exists"},
		{"passwd", func() error { return o.SetPassword(ctx, "bob@example.test", "another long pw") }, ""},
		{"passwd unknown", func() error { return o.SetPassword(ctx, "nobody@example.test", "another long pw") }, "unknown account"},
		{"alias", func() error { return o.AddAlias(ctx, "sales@example.test", "bob@example.test") }, ""},
		{"alias remote", func() error { return o.AddAlias(ctx, "sales@example.test", "boss@remote.test") }, ""},
		{"catch-all", func() error { return o.AddAlias(ctx, "@example.test", "bob@example.test") }, ""},
		{"alias over account", func() error { return o.AddAlias(ctx, "bob@example.test", "x@remote.test") }, "is an account"},
		{"alias to itself", func() error { return o.AddAlias(ctx, "me@example.test", "ME@example.test") }, "itself"},
		{"alias bad target", func() error { return o.AddAlias(ctx, "x@example.test", "nope") }, "not a valid target"},
		{"user over alias", func() error { _, err := o.AddUser(ctx, "sales@example.test", "long enough pw"); return err }, "already an alias"},
		{"delete domain in use", func() error { return o.DeleteDomain(ctx, "example.test") }, "still has accounts"},
		{"delete alias", func() error { return o.DeleteAlias(ctx, "sales@example.test", "") }, ""},
		{"delete missing alias", func() error { return o.DeleteAlias(ctx, "sales@example.test", "") }, "no alias"},
		{"delete user", func() error { return o.DeleteUser(ctx, "BOB@example.test") }, ""},
		{"delete missing user", func() error { return o.DeleteUser(ctx, "bob@example.test") }, "unknown account"},
	}
	for _, s := range steps {
		err := s.do()
		switch {
		case s.want == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Fatalf("%s: err = %v, want %q", s.name, err, s.want)
		}
		var ue *Error
		if err != nil && !errors.As(err, &ue) {
			t.Fatalf("%s: %v is not an admin.Error with a user message", s.name, err)
		}
	}
	keys, _ := o.Store.DKIMKeys(ctx, "example.test")
	if len(keys) != 1 {
		t.Fatalf("DKIM keys of the new domain = %v", keys)
	}
}

func TestFirstAccountIsPostmaster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOps(t)
	o.AddDomain(ctx, "example.test")
	if _, err := o.AddUser(ctx, "amy@example.test", "long enough pw"); err != nil {
		t.Fatal(err)
	}
	o.AddUser(ctx, "bob@example.test", "long enough pw")
	targets, _ := o.Store.AliasTargets(ctx, "postmaster@example.test")
	if len(targets) != 1 || targets[0] != "amy@example.test" {
		t.Fatalf("postmaster targets = %v", targets)
	}
}

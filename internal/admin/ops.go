// Package admin holds the administrative operations of kantorpos: domains,
// accounts, aliases, the queue, DKIM keys, DNS records, API tokens and the
// server's status. The command line and the HTTP API (internal/adminweb)
// call the same methods, so an operation behaves and fails the same way
// wherever it is started.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Store is what the operations need.
type Store interface {
	store.Directory
	store.DKIMKeys
	store.Queue
	store.Admin
	store.Sieve
}

// Ops performs administrative operations.
type Ops struct {
	Store  Store
	Hasher *auth.Hasher
	Clock  clock.Clock
	Log    *slog.Logger
	// NewDKIMKeys, when set, makes the DKIM keys of a new domain.
	NewDKIMKeys func(domain string, now time.Time) ([]store.DKIMKey, error)
	// Published is what DNS records describe (host name, ports).
	Published Published
	// Resolver is used to check published records (nil: the system's).
	Resolver dns.Resolver
	// Bouncer returns queued mail to its sender (nil: not available).
	Bouncer Bouncer
	// Runtime tells what only a running server knows (nil: Status reports
	// the store's figures only).
	Runtime Runtime
}

// Error is an operation error with a message fit for the administrator.
type Error struct {
	Msg string
	Err error // the underlying error, for errors.Is
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func userErr(err error, format string, a ...any) error {
	return &Error{Msg: fmt.Sprintf(format, a...), Err: err}
}

func (o *Ops) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o *Ops) now() time.Time {
	if o.Clock == nil {
		return time.Now()
	}
	return o.Clock.Now()
}

// AddDomain adds a domain we accept mail for, with its DKIM keys.
func (o *Ops) AddDomain(ctx context.Context, name string) error {
	d, err := mailaddr.ParseDomain(strings.TrimSpace(name))
	if err != nil || strings.HasPrefix(d, "[") || !strings.Contains(d, ".") && d != "localhost" {
		return userErr(store.ErrInvalidName, "%q is not a valid domain name", name)
	}
	if err := o.Store.AddDomain(ctx, d); err != nil {
		if errors.Is(err, store.ErrExists) {
			return userErr(err, "domain %s already exists", d)
		}
		return fmt.Errorf("add domain %s: %w", d, err)
	}
	if o.NewDKIMKeys != nil {
		keys, err := o.NewDKIMKeys(d, o.now())
		if err != nil {
			return fmt.Errorf("domain %s added, but making its DKIM keys failed: %w", d, err)
		}
		for _, k := range keys {
			if err := o.Store.AddDKIMKey(ctx, k); err != nil {
				return fmt.Errorf("domain %s added, but storing its DKIM key failed: %w", d, err)
			}
		}
	}
	o.log().Info("domain added", "domain", d)
	return nil
}

// DeleteDomain removes a domain that has no accounts or aliases left.
func (o *Ops) DeleteDomain(ctx context.Context, name string) error {
	d := strings.ToLower(strings.TrimSpace(name))
	err := o.Store.DeleteDomain(ctx, d)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return userErr(err, "unknown domain %s", d)
	case errors.Is(err, store.ErrNotEmpty):
		return userErr(err, "domain %s still has accounts or aliases; delete them first", d)
	case err != nil:
		return fmt.Errorf("delete domain %s: %w", d, err)
	}
	o.log().Info("domain deleted", "domain", d)
	return nil
}

// Domains lists the domains.
func (o *Ops) Domains(ctx context.Context) ([]store.Domain, error) { return o.Store.Domains(ctx) }

// parseAccount checks an account address and that its domain is ours.
func (o *Ops) parseAccount(ctx context.Context, address string) (mailaddr.Address, error) {
	a, err := mailaddr.Parse(strings.TrimSpace(address))
	if err != nil || a.IsLiteral() || a.HasRelayTrick() || a.Tag() != "" {
		return a, userErr(store.ErrInvalidName, "%q is not a valid account address (want user@domain, without +tag)", address)
	}
	ok, err := o.Store.HasDomain(ctx, a.Domain)
	if err != nil {
		return a, err
	}
	if !ok {
		return a, userErr(store.ErrNotFound, "unknown domain %s: add it first with `kantorpos domain add %s`", a.Domain, a.Domain)
	}
	return a, nil
}

// AddUser creates an account with its default folders.
func (o *Ops) AddUser(ctx context.Context, address, password string) (store.Account, error) {
	a, err := o.parseAccount(ctx, address)
	if err != nil {
		return store.Account{}, err
	}
	if err := auth.CheckStrength(password); err != nil {
		return store.Account{}, userErr(err, "%v", err)
	}
	if targets, _ := o.Store.AliasTargets(ctx, a.Key()); len(targets) > 0 {
		return store.Account{}, userErr(store.ErrExists, "%s is already an alias", a.Key())
	}
	hash, err := o.Hasher.Hash(ctx, password)
	if err != nil {
		return store.Account{}, err
	}
	acc, err := o.Store.CreateAccount(ctx, a.Key(), hash)
	if errors.Is(err, store.ErrExists) {
		return acc, userErr(err, "account %s already exists", a.Key())
	}
	if err != nil {
		return acc, fmt.Errorf("add user %s: %w", a.Key(), err)
	}
	o.log().Info("account added", "account", acc.Address)
	// RFC 5321 4.5.1: every domain has a postmaster. Until the administrator
	// says otherwise, the domain's first account receives its mail.
	pm := "postmaster@" + a.Domain
	if a.Key() != pm {
		if targets, err := o.Store.AliasTargets(ctx, pm); err == nil && len(targets) == 0 {
			if _, err := o.Store.Account(ctx, pm); errors.Is(err, store.ErrNotFound) {
				if err := o.Store.AddAlias(ctx, store.Alias{Address: pm, Target: acc.Address}); err == nil {
					o.log().Info("postmaster alias added", "alias", pm, "target", acc.Address)
				}
			}
		}
	}
	return acc, nil
}

// DeleteUser deletes an account with all its mail.
func (o *Ops) DeleteUser(ctx context.Context, address string) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	err := o.Store.DeleteAccount(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return userErr(err, "unknown account %s", addr)
	}
	if err != nil {
		return fmt.Errorf("delete user %s: %w", addr, err)
	}
	o.log().Info("account deleted", "account", addr)
	return nil
}

// SetPassword changes an account's password.
func (o *Ops) SetPassword(ctx context.Context, address, password string) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	acc, err := o.Store.Account(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return userErr(err, "unknown account %s", addr)
	}
	if err != nil {
		return err
	}
	if err := auth.CheckStrength(password); err != nil {
		return userErr(err, "%v", err)
	}
	hash, err := o.Hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := o.Store.SetPasswordHash(ctx, acc.ID, hash); err != nil {
		return fmt.Errorf("set password of %s: %w", addr, err)
	}
	o.log().Info("password changed", "account", addr)
	return nil
}

// Users lists accounts of a domain ("" = all).
func (o *Ops) Users(ctx context.Context, domain string) ([]store.Account, error) {
	return o.Store.Accounts(ctx, strings.ToLower(domain))
}

// AddAlias makes address (or "@domain", a catch-all) deliver to target, a
// local or remote address.
func (o *Ops) AddAlias(ctx context.Context, address, target string) error {
	address = strings.TrimSpace(address)
	var key, domain string
	if strings.HasPrefix(address, "@") {
		d, err := mailaddr.ParseDomain(address[1:])
		if err != nil {
			return userErr(store.ErrInvalidName, "%q is not a valid catch-all (want @domain)", address)
		}
		key, domain = "@"+d, d
	} else {
		a, err := mailaddr.Parse(address)
		if err != nil || a.IsLiteral() || a.HasRelayTrick() {
			return userErr(store.ErrInvalidName, "%q is not a valid alias address", address)
		}
		key, domain = a.Key(), a.Domain
	}
	t, err := mailaddr.Parse(strings.TrimSpace(target))
	if err != nil || t.IsLiteral() || t.HasRelayTrick() {
		return userErr(store.ErrInvalidName, "%q is not a valid target address", target)
	}
	if ok, err := o.Store.HasDomain(ctx, domain); err != nil {
		return err
	} else if !ok {
		return userErr(store.ErrNotFound, "unknown domain %s: add it first with `kantorpos domain add %s`", domain, domain)
	}
	if _, err := o.Store.Account(ctx, key); err == nil {
		return userErr(store.ErrExists, "%s is an account; an alias cannot have the same address", key)
	}
	if key == t.Key() {
		return userErr(store.ErrInvalidName, "an alias cannot point to itself")
	}
	err = o.Store.AddAlias(ctx, store.Alias{Address: key, Target: t.String()})
	if errors.Is(err, store.ErrExists) {
		return userErr(err, "alias %s → %s already exists", key, t)
	}
	if err != nil {
		return fmt.Errorf("add alias %s: %w", key, err)
	}
	o.log().Info("alias added", "alias", key, "target", t.String())
	return nil
}

// DeleteAlias removes one target of an alias, or the whole alias when
// target is "".
func (o *Ops) DeleteAlias(ctx context.Context, address, target string) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	err := o.Store.DeleteAlias(ctx, addr, strings.TrimSpace(target))
	if errors.Is(err, store.ErrNotFound) {
		return userErr(err, "no alias %s %s", addr, target)
	}
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", addr, err)
	}
	o.log().Info("alias deleted", "alias", addr, "target", target)
	return nil
}

// Aliases lists aliases of a domain ("" = all).
func (o *Ops) Aliases(ctx context.Context, domain string) ([]store.Alias, error) {
	return o.Store.Aliases(ctx, strings.ToLower(domain))
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/logfield"
)

// Errors returned by Service.Authenticate. Protocol code maps them to its
// replies (SMTP 535/421/454/501, IMAP NO [AUTHENTICATIONFAILED]/[UNAVAILABLE],
// POP3 -ERR [AUTH]/[SYS/TEMP]).
var (
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrTooManyFailures    = errors.New("too many failed logins")
	ErrMalformed          = errors.New("malformed authentication exchange")
	ErrTemporary          = errors.New("temporary authentication failure")
)

// Credentials is what the account store knows about a login name.
type Credentials struct {
	AccountID    int64
	Address      string // canonical address of the account
	PasswordHash string
	Disabled     bool
}

// CredentialStore looks up accounts by login name. Lookups are by full
// address, case-insensitively; found is false for unknown users.
type CredentialStore interface {
	Credentials(ctx context.Context, username string) (c Credentials, found bool, err error)
}

// Rehasher is an optional CredentialStore extension: after a successful
// login with an outdated hash, the new hash is stored.
type Rehasher interface {
	SetPasswordHash(ctx context.Context, accountID int64, hash string) error
}

// Identity is an authenticated account.
type Identity struct {
	AccountID int64
	Address   string
}

// Service authenticates logins for every protocol.
type Service struct {
	Store   CredentialStore
	Hasher  *Hasher
	Limiter *Limiter
	// Cache, when not nil, lets a recently verified password skip argon2id.
	Cache *VerifiedCache
	Log   *slog.Logger
	// Events counts the failures it logs (nil: logged, not counted).
	Events *events.Log
	// Sleep waits for d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Authenticate checks username and password from a client at ip over
// proto ("smtp", "imap", "pop3", "http"). Unknown users and wrong passwords
// take the same time and give the same error.
//
// The attempt is reserved with the Limiter before anything else, the
// verified-password cache included: a refused or delayed network is refused
// or delayed whatever the password, and attempts made in parallel count
// before their passwords are checked. A success clears only this account's
// failures from this network.
func (s *Service) Authenticate(ctx context.Context, username, password string, ip netip.Addr, proto string) (Identity, error) {
	log := s.log().With("proto", proto, "ip", ip.String(), "user", sanitize(username))
	attempt, delay, err := s.Limiter.Reserve(ctx, ip, username)
	switch {
	case errors.Is(err, ErrTooManyFailures):
		s.Events.AuthFailed(log, proto, true, "auth refused: too many failures")
		return Identity{}, ErrTooManyFailures
	case err != nil:
		return Identity{}, err
	}
	defer attempt.Abandon() // no result (context ended, store error): not counted
	if delay > 0 {
		if err := s.sleep(ctx, delay); err != nil {
			return Identity{}, err
		}
	}
	if username == "" || password == "" || len(username) > 320 || len(password) > 1024 {
		attempt.Failed()
		s.Events.AuthFailed(log, proto, false, "auth failed: empty or oversized credentials")
		return Identity{}, ErrInvalidCredentials
	}
	c, found, err := s.Store.Credentials(ctx, username)
	if err != nil {
		log.Error("auth: credential lookup", "err", err)
		return Identity{}, fmt.Errorf("%w: %v", ErrTemporary, err)
	}
	hash := c.PasswordHash
	if !found {
		hash = ""
	}
	cached := found && s.Cache.Hit(username, password, hash)
	ok := cached
	if !cached {
		ok, err = s.Hasher.Verify(ctx, hash, password)
		if err != nil && ctx.Err() != nil {
			return Identity{}, ctx.Err()
		}
		if err != nil {
			log.Error("auth: verify", "err", err)
		}
	}
	if !ok || !found || c.Disabled {
		attempt.Failed()
		reason := "wrong password"
		switch {
		case !found:
			reason = "unknown user"
		case c.Disabled && ok:
			reason = "account disabled"
		}
		s.Events.AuthFailed(log, proto, false, "auth failed", "reason", reason)
		return Identity{}, ErrInvalidCredentials
	}
	attempt.Succeeded()
	if !cached {
		s.Cache.Add(username, password, hash)
	}
	if rh, isRehasher := s.Store.(Rehasher); isRehasher && s.Hasher.NeedsRehash(c.PasswordHash) {
		if h, err := s.Hasher.Hash(ctx, password); err == nil {
			if err := rh.SetPasswordHash(ctx, c.AccountID, h); err != nil {
				log.Warn("auth: rehash", "err", err)
			}
		}
	}
	log.Info("auth ok", "account", c.Address, "cached", cached)
	return Identity{AccountID: c.AccountID, Address: c.Address}, nil
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sanitize makes a client-supplied string safe for one log field.
func sanitize(s string) string { return logfield.Clean(s, 100) }

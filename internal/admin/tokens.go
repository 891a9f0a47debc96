package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// TokenPrefix starts every API token secret, so that a leaked one is easy
// to recognise (and to scan for).
const TokenPrefix = "kpt_"

// HashToken is what the store keeps of a token secret: its SHA-256. The
// secret is 256 random bits, so a slow password hash would add nothing.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// AddToken makes an API token and returns its secret, which is not kept:
// it is shown once.
func (o *Ops) AddToken(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, " \t\r\n") {
		return "", userErr(store.ErrInvalidName, "%q is not a valid token name (one word, at most 100 characters)", name)
	}
	secret := TokenPrefix + rand.Text() + rand.Text()
	if _, err := o.Store.AddAPIToken(ctx, name, HashToken(secret)); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", userErr(err, "a token named %s already exists", name)
		}
		return "", fmt.Errorf("add token %s: %w", name, err)
	}
	o.log().Info("api token added", "token", name)
	return secret, nil
}

// Tokens lists the API tokens (names and dates; secrets are not kept).
func (o *Ops) Tokens(ctx context.Context) ([]store.APIToken, error) { return o.Store.APITokens(ctx) }

// DeleteToken revokes an API token.
func (o *Ops) DeleteToken(ctx context.Context, name string) error {
	err := o.Store.DeleteAPIToken(ctx, strings.TrimSpace(name))
	if errors.Is(err, store.ErrNotFound) {
		return userErr(err, "no token named %s", name)
	}
	if err != nil {
		return fmt.Errorf("delete token %s: %w", name, err)
	}
	o.log().Info("api token deleted", "token", name)
	return nil
}

// ErrBadToken is returned by CheckToken for an unknown or malformed secret.
var ErrBadToken = errors.New("invalid API token")

// CheckToken returns the token whose secret this is.
func (o *Ops) CheckToken(ctx context.Context, secret string) (store.APIToken, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return store.APIToken{}, ErrBadToken
	}
	t, err := o.Store.APITokenByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return t, ErrBadToken
	}
	return t, err
}

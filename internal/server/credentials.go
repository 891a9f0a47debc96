package server

import (
	"context"
	"errors"
	"strings"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// credentials adapts the store's directory to auth.CredentialStore.
type credentials struct{ d store.Directory }

func (c credentials) Credentials(ctx context.Context, username string) (auth.Credentials, bool, error) {
	a, err := c.d.Account(ctx, strings.ToLower(strings.TrimSpace(username)))
	if errors.Is(err, store.ErrNotFound) {
		return auth.Credentials{}, false, nil
	}
	if err != nil {
		return auth.Credentials{}, false, err
	}
	return auth.Credentials{AccountID: a.ID, Address: a.Address, PasswordHash: a.PasswordHash, Disabled: a.Disabled}, true, nil
}

func (c credentials) SetPasswordHash(ctx context.Context, accountID int64, hash string) error {
	return c.d.SetPasswordHash(ctx, accountID, hash)
}

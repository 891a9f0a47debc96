package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// AddAPIToken implements store.Admin.
func (s *Store) AddAPIToken(ctx context.Context, name, hash string) (store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || hash == "" {
		return store.APIToken{}, fmt.Errorf("api token %q: %w", name, store.ErrInvalidName)
	}
	tok := store.APIToken{Name: name, Hash: hash}
	err := s.write(ctx, func(t *wtx) error {
		now := s.now()
		err := t.QueryRow(`INSERT INTO api_tokens (name, hash, created) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING RETURNING id`, name, hash, now).Scan(&tok.ID)
		if err == sql.ErrNoRows {
			return fmt.Errorf("api token %s: %w", name, store.ErrExists)
		}
		if err != nil {
			return unavailable("add api token", err)
		}
		tok.Created = fromNanos(now)
		return nil
	})
	return tok, err
}

func scanToken(row interface{ Scan(...any) error }) (store.APIToken, error) {
	var t store.APIToken
	var created int64
	err := row.Scan(&t.ID, &t.Name, &t.Hash, &created)
	t.Created = fromNanos(created)
	return t, err
}

// APITokens implements store.Admin.
func (s *Store) APITokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := s.query(ctx, `SELECT id, name, hash, created FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, unavailable("api tokens", err)
	}
	defer rows.Close()
	var out []store.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, unavailable("api tokens", err)
		}
		out = append(out, t)
	}
	return out, unavailable("api tokens", rows.Err())
}

// APITokenByHash implements store.Admin.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (store.APIToken, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT id, name, hash, created FROM api_tokens WHERE hash = $1`, hash))
	return t, unavailable("api token", notFound(err, "api token"))
}

// DeleteAPIToken implements store.Admin.
func (s *Store) DeleteAPIToken(ctx context.Context, name string) error {
	return s.write(ctx, func(t *wtx) error {
		return updateOne(t, "delete api token "+name, `DELETE FROM api_tokens WHERE name = $1`, strings.TrimSpace(name))
	})
}

// AccountSettings implements store.Admin.
func (s *Store) AccountSettings(ctx context.Context, accountID int64) (store.AccountSettings, error) {
	var st store.AccountSettings
	var keep, away int
	var updated int64
	err := s.queryRow(ctx, `SELECT forward_to, forward_keep, away_enabled, away_subject, away_body, updated
		FROM account_settings WHERE account_id = $1`, accountID).Scan(&st.ForwardTo, &keep, &away, &st.AwaySubject, &st.AwayBody, &updated)
	if err == sql.ErrNoRows {
		if _, err := s.AccountByID(ctx, accountID); err != nil {
			return st, err
		}
		return store.AccountSettings{ForwardKeep: true}, nil
	}
	if err != nil {
		return st, unavailable("account settings", err)
	}
	st.ForwardKeep, st.AwayEnabled, st.Updated = keep != 0, away != 0, fromNanos(updated)
	return st, nil
}

// SetAccountSettings implements store.Admin.
func (s *Store) SetAccountSettings(ctx context.Context, accountID int64, st store.AccountSettings) error {
	return s.write(ctx, func(t *wtx) error {
		var n int
		if err := t.QueryRow(`SELECT count(*) FROM accounts WHERE id = $1`, accountID).Scan(&n); err != nil {
			return unavailable("set account settings", err)
		}
		if n == 0 {
			return fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
		}
		_, err := t.Exec(`INSERT INTO account_settings (account_id, forward_to, forward_keep, away_enabled, away_subject, away_body, updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (account_id) DO UPDATE SET forward_to = excluded.forward_to, forward_keep = excluded.forward_keep,
				away_enabled = excluded.away_enabled, away_subject = excluded.away_subject, away_body = excluded.away_body,
				updated = excluded.updated`,
			accountID, st.ForwardTo, boolInt(st.ForwardKeep), boolInt(st.AwayEnabled), st.AwaySubject, st.AwayBody, s.now())
		return unavailable("set account settings", err)
	})
}

// QueueStats implements store.Admin.
func (s *Store) QueueStats(ctx context.Context) (store.QueueStats, error) {
	var st store.QueueStats
	var deferred, oldest sql.NullInt64
	err := s.queryRow(ctx, `SELECT count(*), sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), min(created) FROM queue`).
		Scan(&st.Entries, &deferred, &oldest)
	if err != nil {
		return st, unavailable("queue stats", err)
	}
	st.Deferred = int(deferred.Int64)
	if oldest.Valid {
		st.Oldest = fromNanos(oldest.Int64)
	}
	return st, nil
}

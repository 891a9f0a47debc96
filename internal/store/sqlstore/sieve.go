package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

const sieveCols = `name, content, active, updated, last_error, last_error_at`

func scanSieve(row interface{ Scan(...any) error }) (store.SieveScript, error) {
	var sc store.SieveScript
	var active int
	var updated, errAt int64
	err := row.Scan(&sc.Name, &sc.Content, &active, &updated, &sc.LastError, &errAt)
	sc.Active, sc.Updated, sc.LastErrorAt = active != 0, fromNanos(updated), fromNanos(errAt)
	return sc, err
}

// SieveScripts implements store.Sieve.
func (s *Store) SieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	rows, err := s.query(ctx, `SELECT `+sieveCols+` FROM sieve_scripts WHERE account_id = $1 ORDER BY name`, accountID)
	if err != nil {
		return nil, unavailable("sieve scripts", err)
	}
	defer rows.Close()
	var out []store.SieveScript
	for rows.Next() {
		sc, err := scanSieve(rows)
		if err != nil {
			return nil, unavailable("sieve scripts", err)
		}
		out = append(out, sc)
	}
	return out, unavailable("sieve scripts", rows.Err())
}

// SieveScript implements store.Sieve.
func (s *Store) SieveScript(ctx context.Context, accountID int64, name string) (store.SieveScript, error) {
	sc, err := scanSieve(s.queryRow(ctx, `SELECT `+sieveCols+` FROM sieve_scripts WHERE account_id = $1 AND name = $2`, accountID, name))
	return sc, unavailable("sieve script", notFound(err, "sieve script "+name))
}

// ActiveSieveScript implements store.Sieve.
func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error) {
	sc, err := scanSieve(s.queryRow(ctx, `SELECT `+sieveCols+` FROM sieve_scripts WHERE account_id = $1 AND active = 1`, accountID))
	return sc, unavailable("active sieve script", notFound(err, "active sieve script"))
}

// PutSieveScript implements store.Sieve.
func (s *Store) PutSieveScript(ctx context.Context, accountID int64, name, content string) error {
	if err := store.CheckSieveName(name); err != nil {
		return err
	}
	return s.write(ctx, func(t *wtx) error {
		if err := accountExists(t, accountID); err != nil {
			return err
		}
		res, err := t.Exec(`UPDATE sieve_scripts SET content = $1, updated = $2, last_error = '', last_error_at = 0
			WHERE account_id = $3 AND name = $4`, content, s.now(), accountID, name)
		if err != nil {
			return unavailable("put sieve script", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var count int
		if err := t.QueryRow(`SELECT count(*) FROM sieve_scripts WHERE account_id = $1`, accountID).Scan(&count); err != nil {
			return unavailable("put sieve script", err)
		}
		if count >= store.MaxSieveScripts {
			return fmt.Errorf("more than %d scripts: %w", store.MaxSieveScripts, store.ErrQuotaExceeded)
		}
		_, err = t.Exec(`INSERT INTO sieve_scripts (account_id, name, content, active, updated) VALUES ($1, $2, $3, 0, $4)`,
			accountID, name, content, s.now())
		return unavailable("put sieve script", err)
	})
}

func accountExists(t *wtx, accountID int64) error {
	var n int
	if err := t.QueryRow(`SELECT count(*) FROM accounts WHERE id = $1`, accountID).Scan(&n); err != nil {
		return unavailable("account", err)
	}
	if n == 0 {
		return fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
	}
	return nil
}

// ActivateSieveScript implements store.Sieve.
func (s *Store) ActivateSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.write(ctx, func(t *wtx) error {
		if err := accountExists(t, accountID); err != nil {
			return err
		}
		if name != "" {
			var n int
			if err := t.QueryRow(`SELECT count(*) FROM sieve_scripts WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&n); err != nil {
				return unavailable("activate sieve script", err)
			}
			if n == 0 {
				return fmt.Errorf("sieve script %q: %w", name, store.ErrNotFound)
			}
		}
		_, err := t.Exec(`UPDATE sieve_scripts SET active = CASE WHEN name = $1 THEN 1 ELSE 0 END WHERE account_id = $2`, name, accountID)
		return unavailable("activate sieve script", err)
	})
}

// DeleteSieveScript implements store.Sieve.
func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.write(ctx, func(t *wtx) error {
		var active int
		err := t.QueryRow(`SELECT active FROM sieve_scripts WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&active)
		if err == sql.ErrNoRows {
			return fmt.Errorf("sieve script %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return unavailable("delete sieve script", err)
		}
		if active != 0 {
			return fmt.Errorf("sieve script %q is active: %w", name, store.ErrLocked)
		}
		_, err = t.Exec(`DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2`, accountID, name)
		return unavailable("delete sieve script", err)
	})
}

// RenameSieveScript implements store.Sieve.
func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error {
	if err := store.CheckSieveName(newName); err != nil {
		return err
	}
	return s.write(ctx, func(t *wtx) error {
		var n int
		if err := t.QueryRow(`SELECT count(*) FROM sieve_scripts WHERE account_id = $1 AND name = $2`, accountID, newName).Scan(&n); err != nil {
			return unavailable("rename sieve script", err)
		}
		if n > 0 {
			return fmt.Errorf("sieve script %q: %w", newName, store.ErrExists)
		}
		res, err := t.Exec(`UPDATE sieve_scripts SET name = $1, updated = $2 WHERE account_id = $3 AND name = $4`,
			newName, s.now(), accountID, oldName)
		if err != nil {
			return unavailable("rename sieve script", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sieve script %q: %w", oldName, store.ErrNotFound)
		}
		return nil
	})
}

// SetSieveError implements store.Sieve.
func (s *Store) SetSieveError(ctx context.Context, accountID int64, name, msg string) error {
	at := s.now()
	if msg == "" {
		at = 0
	}
	return s.write(ctx, func(t *wtx) error {
		_, err := t.Exec(`UPDATE sieve_scripts SET last_error = $1, last_error_at = $2 WHERE account_id = $3 AND name = $4`,
			msg, at, accountID, name)
		return unavailable("set sieve error", err)
	})
}

// VacationReply implements store.Sieve: one statement decides, so two
// nodes delivering at once cannot both answer.
func (s *Store) VacationReply(ctx context.Context, accountID int64, handle, sender string, period time.Duration) (bool, error) {
	now := s.now()
	var sent bool
	err := s.write(ctx, func(t *wtx) error {
		res, err := t.Exec(`INSERT INTO sieve_vacation (account_id, handle, sender, sent) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account_id, handle, sender) DO UPDATE SET sent = excluded.sent
			WHERE sieve_vacation.sent <= $5`, accountID, handle, sender, now, now-int64(period))
		if err != nil {
			return unavailable("vacation reply", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return unavailable("vacation reply", err)
		}
		sent = n > 0
		// Forget replies older than any period (RFC 5230 4.6 caps it).
		_, err = t.Exec(`DELETE FROM sieve_vacation WHERE account_id = $1 AND sent < $2`,
			accountID, now-int64(91*24*time.Hour))
		return unavailable("vacation reply", err)
	})
	return sent, err
}

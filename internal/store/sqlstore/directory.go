package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// AddDomain implements store.Directory.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name = lower(name)
	if name == "" || strings.ContainsAny(name, "@ /") {
		return fmt.Errorf("domain %q: %w", name, store.ErrInvalidName)
	}
	return s.write(ctx, func(t *wtx) error {
		res, err := t.Exec(`INSERT INTO domains (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, s.now())
		if err != nil {
			return unavailable("add domain", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("domain %s: %w", name, store.ErrExists)
		}
		return nil
	})
}

// DeleteDomain implements store.Directory.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	name = lower(name)
	return s.write(ctx, func(t *wtx) error {
		var n int
		if err := t.QueryRow(`SELECT (SELECT count(*) FROM accounts WHERE domain = $1) + (SELECT count(*) FROM aliases WHERE domain = $1)`, name).Scan(&n); err != nil {
			return unavailable("delete domain", err)
		}
		if n > 0 {
			return fmt.Errorf("domain %s has %d accounts or aliases: %w", name, n, store.ErrNotEmpty)
		}
		if _, err := t.Exec(`DELETE FROM dkim_keys WHERE domain = $1`, name); err != nil {
			return unavailable("delete domain", err)
		}
		res, err := t.Exec(`DELETE FROM domains WHERE name = $1`, name)
		if err != nil {
			return unavailable("delete domain", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("domain %s: %w", name, store.ErrNotFound)
		}
		return nil
	})
}

// Domains implements store.Directory.
func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, err := s.query(ctx, `SELECT name, created FROM domains ORDER BY name`)
	if err != nil {
		return nil, unavailable("domains", err)
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		var d store.Domain
		var created int64
		if err := rows.Scan(&d.Name, &created); err != nil {
			return nil, unavailable("domains", err)
		}
		d.Created = fromNanos(created)
		out = append(out, d)
	}
	return out, unavailable("domains", rows.Err())
}

// HasDomain implements store.Directory.
func (s *Store) HasDomain(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM domains WHERE name = $1`, lower(name)).Scan(&n)
	return n > 0, unavailable("has domain", err)
}

// CreateAccount implements store.Directory.
func (s *Store) CreateAccount(ctx context.Context, address, passwordHash string) (store.Account, error) {
	address = lower(address)
	domain := domainOf(address)
	if domain == "" || strings.IndexByte(address, '@') == 0 {
		return store.Account{}, fmt.Errorf("account %q: %w", address, store.ErrInvalidName)
	}
	var a store.Account
	err := s.write(ctx, func(t *wtx) error {
		var n int
		if err := t.QueryRow(`SELECT count(*) FROM domains WHERE name = $1`, domain).Scan(&n); err != nil {
			return unavailable("create account", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %s: %w", domain, store.ErrNotFound)
		}
		now := s.now()
		uidv := uint32(s.clock.Now().Unix())
		var id int64
		err := t.QueryRow(`INSERT INTO accounts (address, domain, password_hash, next_uidvalidity, created)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id`,
			address, domain, passwordHash, uidv, now).Scan(&id)
		if err == sql.ErrNoRows {
			return fmt.Errorf("account %s: %w", address, store.ErrExists)
		}
		if err != nil {
			return unavailable("create account", err)
		}
		for _, mb := range store.DefaultMailboxes {
			if _, err := createMailbox(t, id, mb.Name, mb.SpecialUse); err != nil {
				return err
			}
			if _, err := t.Exec(`INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, mb.Name); err != nil {
				return unavailable("create account", err)
			}
		}
		a = store.Account{ID: id, Address: address, Domain: domain, PasswordHash: passwordHash, Created: fromNanos(now)}
		return nil
	})
	return a, err
}

// DeleteAccount implements store.Directory.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	address = lower(address)
	return s.write(ctx, func(t *wtx) error {
		var id int64
		if err := t.QueryRow(`SELECT id FROM accounts WHERE address = $1`+t.d.forUpdate, address).Scan(&id); err != nil {
			return unavailable("delete account", notFound(err, "account "+address))
		}
		rows, err := t.Query(`SELECT id FROM mailboxes WHERE account_id = $1 ORDER BY id`+t.d.forUpdate, id)
		if err != nil {
			return unavailable("delete account", err)
		}
		var mbs []int64
		for rows.Next() {
			var mb int64
			rows.Scan(&mb)
			mbs = append(mbs, mb)
		}
		rows.Close()
		for _, mb := range mbs {
			if err := s.dropMailboxContent(t, mb); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM mailboxes WHERE account_id = $1`,
			`DELETE FROM subscriptions WHERE account_id = $1`,
			`DELETE FROM account_settings WHERE account_id = $1`,
			`DELETE FROM sieve_scripts WHERE account_id = $1`,
			`DELETE FROM sieve_vacation WHERE account_id = $1`,
			`DELETE FROM accounts WHERE id = $1`,
		} {
			if _, err := t.Exec(q, id); err != nil {
				return unavailable("delete account", err)
			}
		}
		t.publish(store.Change{Kind: store.MailboxesChanged, AccountID: id})
		return nil
	})
}

const accountCols = `id, address, domain, password_hash, disabled, quota_bytes, used_bytes, admin, created`

func scanAccount(row interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var disabled, admin int
	var created int64
	err := row.Scan(&a.ID, &a.Address, &a.Domain, &a.PasswordHash, &disabled, &a.QuotaBytes, &a.UsedBytes, &admin, &created)
	a.Disabled = disabled != 0
	a.Admin = admin != 0
	a.Created = fromNanos(created)
	return a, err
}

// Account implements store.Directory.
func (s *Store) Account(ctx context.Context, address string) (store.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE address = $1`, lower(address)))
	return a, unavailable("account", notFound(err, "account "+address))
}

// AccountByID implements store.Directory.
func (s *Store) AccountByID(ctx context.Context, id int64) (store.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
	return a, unavailable("account", notFound(err, fmt.Sprintf("account %d", id)))
}

// Accounts implements store.Directory.
func (s *Store) Accounts(ctx context.Context, domain string) ([]store.Account, error) {
	q := `SELECT ` + accountCols + ` FROM accounts`
	var args []any
	if domain != "" {
		q += ` WHERE domain = $1`
		args = append(args, lower(domain))
	}
	rows, err := s.query(ctx, q+` ORDER BY address`, args...)
	if err != nil {
		return nil, unavailable("accounts", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, unavailable("accounts", err)
		}
		out = append(out, a)
	}
	return out, unavailable("accounts", rows.Err())
}

// SetPasswordHash implements store.Directory.
func (s *Store) SetPasswordHash(ctx context.Context, accountID int64, hash string) error {
	return s.write(ctx, func(t *wtx) error {
		return updateOne(t, "set password", `UPDATE accounts SET password_hash = $1 WHERE id = $2`, hash, accountID)
	})
}

// UpdateAccount implements store.Directory.
func (s *Store) UpdateAccount(ctx context.Context, accountID int64, u store.AccountUpdate) error {
	return s.write(ctx, func(t *wtx) error {
		if u.Disabled != nil {
			if err := updateOne(t, "update account", `UPDATE accounts SET disabled = $1 WHERE id = $2`, boolInt(*u.Disabled), accountID); err != nil {
				return err
			}
		}
		if u.QuotaBytes != nil {
			if err := updateOne(t, "update account", `UPDATE accounts SET quota_bytes = $1 WHERE id = $2`, *u.QuotaBytes, accountID); err != nil {
				return err
			}
		}
		if u.Admin != nil {
			if err := updateOne(t, "update account", `UPDATE accounts SET admin = $1 WHERE id = $2`, boolInt(*u.Admin), accountID); err != nil {
				return err
			}
		}
		return nil
	})
}

func updateOne(t *wtx, op, q string, args ...any) error {
	res, err := t.Exec(q, args...)
	if err != nil {
		return unavailable(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AddAlias implements store.Directory.
func (s *Store) AddAlias(ctx context.Context, a store.Alias) error {
	addr, target := lower(a.Address), lower(a.Target)
	domain := domainOf(addr)
	if domain == "" || target == "" || !strings.Contains(target, "@") || strings.HasPrefix(target, "@") {
		return fmt.Errorf("alias %q → %q: %w", addr, target, store.ErrInvalidName)
	}
	return s.write(ctx, func(t *wtx) error {
		var n int
		if err := t.QueryRow(`SELECT count(*) FROM domains WHERE name = $1`, domain).Scan(&n); err != nil {
			return unavailable("add alias", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %s: %w", domain, store.ErrNotFound)
		}
		res, err := t.Exec(`INSERT INTO aliases (address, domain, target) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, addr, domain, target)
		if err != nil {
			return unavailable("add alias", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("alias %s → %s: %w", addr, target, store.ErrExists)
		}
		return nil
	})
}

// DeleteAlias implements store.Directory.
func (s *Store) DeleteAlias(ctx context.Context, address, target string) error {
	return s.write(ctx, func(t *wtx) error {
		q, args := `DELETE FROM aliases WHERE address = $1`, []any{lower(address)}
		if target != "" {
			q += ` AND target = $2`
			args = append(args, lower(target))
		}
		return updateOne(t, "delete alias "+address, q, args...)
	})
}

// Aliases implements store.Directory.
func (s *Store) Aliases(ctx context.Context, domain string) ([]store.Alias, error) {
	q := `SELECT address, target FROM aliases`
	var args []any
	if domain != "" {
		q += ` WHERE domain = $1`
		args = append(args, lower(domain))
	}
	rows, err := s.query(ctx, q+` ORDER BY address, target`, args...)
	if err != nil {
		return nil, unavailable("aliases", err)
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var a store.Alias
		if err := rows.Scan(&a.Address, &a.Target); err != nil {
			return nil, unavailable("aliases", err)
		}
		out = append(out, a)
	}
	return out, unavailable("aliases", rows.Err())
}

// AliasTargets implements store.Directory.
func (s *Store) AliasTargets(ctx context.Context, address string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT target FROM aliases WHERE address = $1 ORDER BY target`, lower(address))
	if err != nil {
		return nil, unavailable("alias targets", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, unavailable("alias targets", err)
		}
		out = append(out, t)
	}
	return out, unavailable("alias targets", rows.Err())
}

// DKIMKeys implements store.DKIMKeys.
func (s *Store) DKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error) {
	rows, err := s.query(ctx, `SELECT domain, selector, algorithm, private_key, created, retired
		FROM dkim_keys WHERE domain = $1 ORDER BY created, selector`, lower(domain))
	if err != nil {
		return nil, unavailable("dkim keys", err)
	}
	defer rows.Close()
	var out []store.DKIMKey
	for rows.Next() {
		var k store.DKIMKey
		var created int64
		var retired sql.NullInt64
		if err := rows.Scan(&k.Domain, &k.Selector, &k.Algorithm, &k.PrivateKeyPEM, &created, &retired); err != nil {
			return nil, unavailable("dkim keys", err)
		}
		k.Created = fromNanos(created)
		if retired.Valid {
			r := fromNanos(retired.Int64)
			k.Retired = &r
		}
		out = append(out, k)
	}
	return out, unavailable("dkim keys", rows.Err())
}

// AddDKIMKey implements store.DKIMKeys.
func (s *Store) AddDKIMKey(ctx context.Context, k store.DKIMKey) error {
	return s.write(ctx, func(t *wtx) error {
		var retired any
		if k.Retired != nil {
			retired = toNanos(*k.Retired)
		}
		res, err := t.Exec(`INSERT INTO dkim_keys (domain, selector, algorithm, private_key, created, retired)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			lower(k.Domain), k.Selector, k.Algorithm, k.PrivateKeyPEM, toNanos(k.Created), retired)
		if err != nil {
			return unavailable("add dkim key", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("dkim key %s/%s: %w", k.Domain, k.Selector, store.ErrExists)
		}
		return nil
	})
}

// RetireDKIMKey implements store.DKIMKeys.
func (s *Store) RetireDKIMKey(ctx context.Context, domain, selector string, at time.Time) error {
	return s.write(ctx, func(t *wtx) error {
		return updateOne(t, "retire dkim key", `UPDATE dkim_keys SET retired = $1 WHERE domain = $2 AND selector = $3`,
			toNanos(at), lower(domain), selector)
	})
}

// DeleteDKIMKey implements store.DKIMKeys.
func (s *Store) DeleteDKIMKey(ctx context.Context, domain, selector string) error {
	return s.write(ctx, func(t *wtx) error {
		return updateOne(t, "delete dkim key", `DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2`, lower(domain), selector)
	})
}

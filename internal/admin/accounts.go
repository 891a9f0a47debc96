package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Account returns one account.
func (o *Ops) Account(ctx context.Context, address string) (store.Account, error) {
	addr := strings.ToLower(strings.TrimSpace(address))
	acc, err := o.Store.Account(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return acc, userErr(err, "unknown account %s", addr)
	}
	return acc, err
}

func (o *Ops) updateAccount(ctx context.Context, address string, u store.AccountUpdate, what string) error {
	acc, err := o.Account(ctx, address)
	if err != nil {
		return err
	}
	if err := o.Store.UpdateAccount(ctx, acc.ID, u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return userErr(err, "unknown account %s", acc.Address)
		}
		return fmt.Errorf("%s of %s: %w", what, acc.Address, err)
	}
	return nil
}

// SetQuota limits the mail an account may keep (0: no limit).
func (o *Ops) SetQuota(ctx context.Context, address string, bytes int64) error {
	if bytes < 0 {
		return userErr(store.ErrInvalidName, "a quota cannot be negative (0 means no limit)")
	}
	if err := o.updateAccount(ctx, address, store.AccountUpdate{QuotaBytes: &bytes}, "set quota"); err != nil {
		return err
	}
	o.log().Info("quota changed", "account", strings.ToLower(strings.TrimSpace(address)), "bytes", bytes)
	return nil
}

// SetDisabled disables an account (no logins; mail for it is refused) or
// enables it again.
func (o *Ops) SetDisabled(ctx context.Context, address string, disabled bool) error {
	if err := o.updateAccount(ctx, address, store.AccountUpdate{Disabled: &disabled}, "disable"); err != nil {
		return err
	}
	o.log().Info("account disabled changed", "account", strings.ToLower(strings.TrimSpace(address)), "disabled", disabled)
	return nil
}

// SetAdmin makes an account an administrator (admin web page and API), or
// takes that away.
func (o *Ops) SetAdmin(ctx context.Context, address string, admin bool) error {
	if err := o.updateAccount(ctx, address, store.AccountUpdate{Admin: &admin}, "set admin"); err != nil {
		return err
	}
	o.log().Info("account admin changed", "account", strings.ToLower(strings.TrimSpace(address)), "admin", admin)
	return nil
}

// Page is a slice of a longer list.
type Page[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"` // matching items in all
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// ListQuery selects a page: Search is a case-insensitive substring.
type ListQuery struct {
	Domain string
	Search string
	Offset int
	Limit  int // 0: DefaultPageSize; at most MaxPageSize
}

// Page sizes of listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

func paginate[T any](all []T, q ListQuery, match func(T) bool) Page[T] {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	offset := max(q.Offset, 0)
	var hits []T
	for _, x := range all {
		if match(x) {
			hits = append(hits, x)
		}
	}
	p := Page[T]{Total: len(hits), Offset: offset, Limit: limit, Items: []T{}}
	if offset < len(hits) {
		p.Items = hits[offset:min(offset+limit, len(hits))]
	}
	return p
}

// FindDomains lists domains matching q.
func (o *Ops) FindDomains(ctx context.Context, q ListQuery) (Page[store.Domain], error) {
	ds, err := o.Store.Domains(ctx)
	if err != nil {
		return Page[store.Domain]{}, err
	}
	s := strings.ToLower(strings.TrimSpace(q.Search))
	return paginate(ds, q, func(d store.Domain) bool { return strings.Contains(d.Name, s) }), nil
}

// FindUsers lists accounts matching q (domain and search), by address.
func (o *Ops) FindUsers(ctx context.Context, q ListQuery) (Page[store.Account], error) {
	as, err := o.Users(ctx, q.Domain)
	if err != nil {
		return Page[store.Account]{}, err
	}
	sort.Slice(as, func(i, j int) bool { return as[i].Address < as[j].Address })
	s := strings.ToLower(strings.TrimSpace(q.Search))
	return paginate(as, q, func(a store.Account) bool { return strings.Contains(a.Address, s) }), nil
}

// FindAliases lists aliases matching q (address or target).
func (o *Ops) FindAliases(ctx context.Context, q ListQuery) (Page[store.Alias], error) {
	as, err := o.Aliases(ctx, q.Domain)
	if err != nil {
		return Page[store.Alias]{}, err
	}
	s := strings.ToLower(strings.TrimSpace(q.Search))
	return paginate(as, q, func(a store.Alias) bool {
		return strings.Contains(a.Address, s) || strings.Contains(strings.ToLower(a.Target), s)
	}), nil
}

// Settings returns what a user set on their own page.
func (o *Ops) Settings(ctx context.Context, address string) (store.AccountSettings, error) {
	acc, err := o.Account(ctx, address)
	if err != nil {
		return store.AccountSettings{}, err
	}
	return o.Store.AccountSettings(ctx, acc.ID)
}

// Limits of the away message.
const (
	MaxAwaySubject = 200
	MaxAwayBody    = 10000
)

// SetSettings stores a user's forwarding address and away message and
// writes them as the Sieve script the delivery runs (see sieve.go).
func (o *Ops) SetSettings(ctx context.Context, address string, s store.AccountSettings) error {
	acc, err := o.Account(ctx, address)
	if err != nil {
		return err
	}
	s.ForwardTo = strings.TrimSpace(s.ForwardTo)
	if s.ForwardTo != "" {
		t, err := mailaddr.Parse(s.ForwardTo)
		if err != nil || t.IsLiteral() || t.HasRelayTrick() {
			return userErr(store.ErrInvalidName, "%q is not a valid forwarding address", s.ForwardTo)
		}
		if t.Key() == acc.Address {
			return userErr(store.ErrInvalidName, "an account cannot forward to itself")
		}
		s.ForwardTo = t.String()
	}
	s.AwaySubject = strings.TrimSpace(s.AwaySubject)
	if strings.ContainsAny(s.AwaySubject, "\r\n") {
		return userErr(store.ErrInvalidName, "the away subject must be one line")
	}
	if len(s.AwaySubject) > MaxAwaySubject || len(s.AwayBody) > MaxAwayBody {
		return userErr(store.ErrInvalidName, "the away message is too long (subject %d, text %d characters at most)", MaxAwaySubject, MaxAwayBody)
	}
	if s.AwayEnabled && strings.TrimSpace(s.AwayBody) == "" {
		return userErr(store.ErrInvalidName, "an away message needs a text")
	}
	if err := o.Store.SetAccountSettings(ctx, acc.ID, s); err != nil {
		return fmt.Errorf("settings of %s: %w", acc.Address, err)
	}
	if err := o.writeSettingsScript(ctx, acc.ID, s); err != nil {
		return err
	}
	o.log().Info("settings changed", "account", acc.Address, "forward", s.ForwardTo != "", "away", s.AwayEnabled)
	return nil
}

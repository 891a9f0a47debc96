package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kantorpos/kantorpos/internal/sieve"
	"github.com/kantorpos/kantorpos/internal/store"
)

// The scripts the user's page manages. The form's script is the active
// one; it ends by including the user's own rules, edited on the same page.
const (
	SettingsScript = "forwarding-and-away"
	UserScript     = "my-rules"
)

// AwayPeriod is how often one sender gets the away message.
const AwayPeriod = 7 // days (RFC 5230 4.1's default)

// settingsScript writes the form's settings as Sieve.
func settingsScript(s store.AccountSettings) string {
	var b strings.Builder
	b.WriteString("# Written by the \"Forwarding and away message\" form of your page:\n")
	b.WriteString("# saving the form replaces it. Put your own rules into \"" + UserScript + "\".\n")
	b.WriteString(`require ["vacation", "copy", "include"];` + "\n")
	if s.AwayEnabled {
		b.WriteString(fmt.Sprintf("vacation :days %d", AwayPeriod))
		if s.AwaySubject != "" {
			b.WriteString(" :subject " + quote(s.AwaySubject))
		}
		b.WriteString(" " + quote(s.AwayBody) + ";\n")
	}
	if s.ForwardTo != "" {
		if s.ForwardKeep {
			b.WriteString("redirect :copy " + quote(s.ForwardTo) + ";\n")
		} else {
			b.WriteString("redirect " + quote(s.ForwardTo) + ";\n")
		}
	}
	b.WriteString("include :personal :optional " + quote(UserScript) + ";\n")
	return b.String()
}

// quote makes a Sieve quoted string (RFC 5228 2.4.2).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// writeSettingsScript stores the form's script and makes it active.
func (o *Ops) writeSettingsScript(ctx context.Context, accountID int64, s store.AccountSettings) error {
	src := settingsScript(s)
	if _, err := sieve.Parse(src); err != nil {
		return fmt.Errorf("settings script: %w", err) // a bug of ours, not the user's
	}
	if err := o.Store.PutSieveScript(ctx, accountID, SettingsScript, src); err != nil {
		return fmt.Errorf("settings script: %w", err)
	}
	if err := o.Store.ActivateSieveScript(ctx, accountID, SettingsScript); err != nil {
		return fmt.Errorf("settings script: %w", err)
	}
	return nil
}

// Filters is what the user page shows of an account's scripts.
type Filters struct {
	Active   string // name of the active script ("" none)
	Settings store.SieveScript
	Rules    store.SieveScript // the user's own rules (Content "" when none)
	// Others are scripts uploaded with a Sieve client (ManageSieve).
	Others []string
}

// Filters returns the account's scripts for its page.
func (o *Ops) Filters(ctx context.Context, address string) (Filters, error) {
	var f Filters
	acc, err := o.Account(ctx, address)
	if err != nil {
		return f, err
	}
	list, err := o.Store.SieveScripts(ctx, acc.ID)
	if err != nil {
		return f, err
	}
	for _, sc := range list {
		if sc.Active {
			f.Active = sc.Name
		}
		switch sc.Name {
		case SettingsScript:
			f.Settings = sc
		case UserScript:
			f.Rules = sc
		default:
			f.Others = append(f.Others, sc.Name)
		}
	}
	return f, nil
}

// SetRules stores the user's own Sieve rules after checking them, and
// makes the form's script (which includes them) active.
func (o *Ops) SetRules(ctx context.Context, address, src string) error {
	acc, err := o.Account(ctx, address)
	if err != nil {
		return err
	}
	if _, err := sieve.Parse(src); err != nil {
		var se *sieve.Error
		if errors.As(err, &se) {
			return userErr(store.ErrInvalidName, "your rules have an error: %v", se)
		}
		return err
	}
	if err := o.Store.PutSieveScript(ctx, acc.ID, UserScript, src); err != nil {
		return fmt.Errorf("rules of %s: %w", acc.Address, err)
	}
	st, err := o.Store.AccountSettings(ctx, acc.ID)
	if err != nil {
		return err
	}
	if err := o.writeSettingsScript(ctx, acc.ID, st); err != nil {
		return err
	}
	o.log().Info("sieve rules changed", "account", acc.Address, "size", len(src))
	return nil
}

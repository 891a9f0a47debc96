package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on stored Sieve scripts.
const (
	MaxSieveScripts    = 32  // per account
	MaxSieveScriptName = 128 // bytes
)

// SieveScript is one of an account's filter scripts (RFC 5228); at most one
// is active and runs at delivery.
type SieveScript struct {
	Name    string
	Content string
	Active  bool
	Updated time.Time
	// LastError is the last run-time error of the script at delivery
	// (shown to the user); "" when its last run went well.
	LastError   string
	LastErrorAt time.Time
}

// Sieve keeps users' filter scripts and what their vacation actions
// answered (so a cluster answers a sender once per period).
type Sieve interface {
	// SieveScripts lists an account's scripts by name, contents included.
	SieveScripts(ctx context.Context, accountID int64) ([]SieveScript, error)
	// SieveScript returns one script (ErrNotFound).
	SieveScript(ctx context.Context, accountID int64, name string) (SieveScript, error)
	// ActiveSieveScript returns the active script (ErrNotFound when none).
	ActiveSieveScript(ctx context.Context, accountID int64) (SieveScript, error)
	// PutSieveScript creates or replaces a script, keeping its active
	// state; ErrQuotaExceeded past MaxSieveScripts, ErrInvalidName for a bad name.
	PutSieveScript(ctx context.Context, accountID int64, name, content string) error
	// ActivateSieveScript makes name the active script ("" deactivates all).
	ActivateSieveScript(ctx context.Context, accountID int64, name string) error
	// DeleteSieveScript removes a script; the active one gives ErrLocked.
	DeleteSieveScript(ctx context.Context, accountID int64, name string) error
	// RenameSieveScript renames a script (ErrNotFound, ErrExists).
	RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error
	// SetSieveError records (or with "" clears) a script's last run-time error.
	SetSieveError(ctx context.Context, accountID int64, name, msg string) error
	// VacationReply records an auto-reply of handle to sender and reports
	// true, unless one was recorded less than period ago: then false.
	// It is atomic across cluster nodes (RFC 5230 4.6).
	VacationReply(ctx context.Context, accountID int64, handle, sender string, period time.Duration) (bool, error)
}

// CheckSieveName validates a script name (RFC 5804 1.6: no control
// characters; we also bound its length).
func CheckSieveName(name string) error {
	if name == "" || len(name) > MaxSieveScriptName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 }) {
		return fmt.Errorf("script name %q: %w", name, ErrInvalidName)
	}
	return nil
}

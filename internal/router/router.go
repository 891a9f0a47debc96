// Package router decides where mail for an address goes: into the mailbox of
// a local account, to remote addresses (which the queue sends), or nowhere
// (not our domain, unknown user).
//
// Resolution order for an address of one of our domains (first match wins):
//
//  1. an alias on exactly the address as given, plus-tag included
//     ("user+tag@d" can be an alias of its own);
//  2. an alias on the base address without the plus-tag ("user@d");
//  3. the account with the base address (plus-tag kept in LocalTarget.Tag,
//     delivery goes to INBOX);
//  4. for "postmaster" (any case, RFC 5321 4.5.1): Router.Postmaster;
//  5. the catch-all alias "@d".
//
// "Postmaster" without a domain (RCPT TO:<Postmaster>) is postmaster@ our
// primary domain: see ResolvePostmaster.
//
// So an alias shadows an account of the same address, and a real account
// always wins over a catch-all. Alias targets are resolved recursively by the
// same rules; a target naming an address that is already being expanded
// stops there: if that address is an account it is delivered to the account
// (so "alice → alice, alice@elsewhere" keeps a copy), otherwise it is a
// loop and Resolve fails with ErrLoop, as it does past MaxDepth levels.
// Targets that lead nowhere (unknown local users, bad syntax) are skipped and
// reported in Result.Skipped; if nothing is left the address is unknown.
package router

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/srs"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Directory is what the router reads; store.Store satisfies it.
type Directory interface {
	HasDomain(ctx context.Context, name string) (bool, error)
	// Account returns store.ErrNotFound (wrapped) for unknown addresses.
	Account(ctx context.Context, address string) (store.Account, error)
	// AliasTargets returns nil when address is not an alias.
	AliasTargets(ctx context.Context, address string) ([]string, error)
}

// DefaultMaxDepth is how many alias levels are followed.
const DefaultMaxDepth = 10

// ErrLoop means the alias expansion loops or is deeper than MaxDepth. SMTP
// answers 550 5.4.6 (RFC 3463 "routing loop detected").
var ErrLoop = errors.New("router: alias loop or expansion too deep")

// Status is the outcome of Resolve.
type Status int

const (
	// Deliver: Local and/or Remote hold where the message goes.
	Deliver Status = iota
	// NotOurs: the domain is not one of ours (or is an address literal).
	NotOurs
	// UnknownUser: our domain, but no account, alias or catch-all matches,
	// the local part uses relay syntax ("%", "!", "@"), or every alias
	// target was skipped.
	UnknownUser
	// Disabled: the address is a disabled account.
	Disabled
)

func (s Status) String() string {
	switch s {
	case Deliver:
		return "deliver"
	case NotOurs:
		return "not-ours"
	case UnknownUser:
		return "unknown-user"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// LocalTarget is a local account that receives the message.
type LocalTarget struct {
	Account store.Account
	// Address is the address that reached the account (after alias
	// expansion, plus-tag included), for Delivered-To.
	Address string
	// Tag is the plus-tag of Address, recorded but not used for filing.
	Tag string
}

// Result says where mail for one address goes.
type Result struct {
	Status Status
	Local  []LocalTarget      // deduplicated by account
	Remote []mailaddr.Address // deduplicated
	// Implicit is set when the address matched no account or alias of its
	// own but a catch-all or the postmaster fallback. Submission does not
	// let a user send as such an address.
	Implicit bool
	// Skipped lists alias targets that led nowhere, for the log.
	Skipped []string
}

// Router resolves recipients. It keeps no state besides its configuration.
type Router struct {
	Dir Directory
	// Postmaster is where postmaster@ of each of our domains goes when
	// there is no alias or account for it (an admin's address, local or
	// remote). When empty, such postmaster addresses are UnknownUser.
	Postmaster string
	// MaxDepth limits alias nesting; 0 means DefaultMaxDepth.
	MaxDepth int
	// SRS, when set, turns addresses rewritten by our forwarding
	// (SRS0=.../SRS1=... at one of our domains) back into the address
	// they stand for, which is then routed (a bounce goes back to the
	// original sender). An address it refuses is UnknownUser.
	SRS SRSReverser
}

// SRSReverser reverses rewritten local parts; *srs.SRS satisfies it. It
// returns an error wrapping srs.ErrNotSRS for ordinary local parts.
type SRSReverser interface {
	Reverse(local string) (string, error)
}

// New returns a router over dir.
func New(dir Directory, postmaster string) *Router {
	return &Router{Dir: dir, Postmaster: postmaster}
}

// IsOurDomain reports whether domain is one of ours.
func (r *Router) IsOurDomain(ctx context.Context, domain string) (bool, error) {
	if strings.HasPrefix(domain, "[") {
		return false, nil
	}
	ok, err := r.Dir.HasDomain(ctx, domain)
	if err != nil {
		return false, fmt.Errorf("router: domain %s: %w", domain, err)
	}
	return ok, nil
}

// Resolve says where mail to addr goes. Errors are ErrLoop or lookup
// failures (temporary).
func (r *Router) Resolve(ctx context.Context, addr mailaddr.Address) (Result, error) {
	ours, err := r.IsOurDomain(ctx, addr.Domain)
	if err != nil {
		return Result{}, err
	}
	if !ours {
		return Result{Status: NotOurs}, nil
	}
	if r.SRS != nil {
		back, err := r.SRS.Reverse(addr.Local)
		switch {
		case errors.Is(err, srs.ErrNotSRS):
		case err != nil:
			return Result{Status: UnknownUser, Skipped: []string{err.Error()}}, nil
		default:
			orig, err := mailaddr.Parse(back)
			if err != nil || srs.IsSRS(orig.Local) && strings.EqualFold(orig.Domain, addr.Domain) {
				return Result{Status: UnknownUser}, nil
			}
			res, err := r.Resolve(ctx, orig)
			if err == nil && res.Status == NotOurs {
				res = Result{Status: Deliver, Remote: []mailaddr.Address{orig}}
			}
			return res, err
		}
	}
	x := &expansion{r: r, ctx: ctx, onPath: map[string]bool{}, seenAcct: map[int64]bool{}, seenRemote: map[string]bool{}}
	st, err := x.resolveLocal(addr, 0)
	if err != nil {
		return Result{}, err
	}
	res := Result{Status: st, Local: x.local, Remote: x.remote, Implicit: x.implicit, Skipped: x.skipped}
	if st == Deliver && len(res.Local) == 0 && len(res.Remote) == 0 {
		res.Status = UnknownUser
	}
	return res, nil
}

// ResolvePostmaster says where mail to "Postmaster" without a domain goes.
// RFC 5321 4.5.1 (and 4.1.1.3): "RCPT TO:<Postmaster>" MUST be accepted;
// it is the postmaster of this host, which we take to be the postmaster of
// our primary domain: the host name or its nearest parent domain that is
// one of ours, else the domain of Router.Postmaster when that is ours.
// postmaster@ that domain is resolved like any address (an alias or an
// account of that name first, then Router.Postmaster). When no domain
// qualifies the mail goes to Router.Postmaster itself, and with none
// configured the status is UnknownUser. addr is the address resolved.
func (r *Router) ResolvePostmaster(ctx context.Context, hostname string) (addr mailaddr.Address, res Result, err error) {
	var candidates []string
	for h := strings.ToLower(strings.TrimSuffix(hostname, ".")); h != ""; {
		candidates = append(candidates, h)
		_, h, _ = strings.Cut(h, ".")
	}
	var pm mailaddr.Address
	if r.Postmaster != "" {
		if pm, err = mailaddr.Parse(r.Postmaster); err != nil {
			return addr, res, fmt.Errorf("router: postmaster address %q: %w", r.Postmaster, err)
		}
		candidates = append(candidates, pm.Domain)
	}
	for _, d := range candidates {
		ours, err := r.IsOurDomain(ctx, d)
		if err != nil {
			return addr, res, err
		}
		if ours {
			addr = mailaddr.Address{Local: "postmaster", Domain: d}
			res, err = r.Resolve(ctx, addr)
			return addr, res, err
		}
	}
	if r.Postmaster == "" {
		return addr, Result{Status: UnknownUser}, nil
	}
	if pm.IsLiteral() {
		return pm, Result{Status: UnknownUser}, nil // never forward to address literals
	}
	return pm, Result{Status: Deliver, Remote: []mailaddr.Address{pm}, Implicit: true}, nil
}

// expansion is the state of one Resolve call.
type expansion struct {
	r          *Router
	ctx        context.Context
	onPath     map[string]bool // alias keys being expanded (DFS stack)
	seenAcct   map[int64]bool
	seenRemote map[string]bool
	local      []LocalTarget
	remote     []mailaddr.Address
	implicit   bool
	skipped    []string
}

func (x *expansion) maxDepth() int {
	if x.r.MaxDepth > 0 {
		return x.r.MaxDepth
	}
	return DefaultMaxDepth
}

// resolveLocal resolves an address of one of our domains.
func (x *expansion) resolveLocal(addr mailaddr.Address, depth int) (Status, error) {
	if depth > x.maxDepth() {
		return 0, fmt.Errorf("%w: deeper than %d at %s", ErrLoop, x.maxDepth(), addr.Key())
	}
	if addr.HasRelayTrick() {
		return UnknownUser, nil
	}
	base := addr.Base()
	// 1 and 2: aliases, the exact address first.
	keys := []string{addr.Key()}
	if base != addr {
		keys = append(keys, base.Key())
	}
	for _, k := range keys {
		targets, err := x.r.Dir.AliasTargets(x.ctx, k)
		if err != nil {
			return 0, fmt.Errorf("router: alias %s: %w", k, err)
		}
		if len(targets) > 0 {
			return x.expandAlias(k, addr, targets, depth)
		}
	}
	// 3: the account.
	st, found, err := x.account(addr)
	if err != nil || found {
		return st, err
	}
	// 4: postmaster (RFC 5321 4.5.1), case-insensitively.
	if strings.EqualFold(base.Local, "postmaster") {
		if x.r.Postmaster == "" {
			return UnknownUser, nil
		}
		pm, err := mailaddr.Parse(x.r.Postmaster)
		if err != nil {
			return 0, fmt.Errorf("router: postmaster address %q: %w", x.r.Postmaster, err)
		}
		x.implicit = true
		if pm.Key() == addr.Key() {
			return UnknownUser, nil // configured to itself and no account: nowhere
		}
		return x.target(pm, depth+1)
	}
	// 5: catch-all.
	catchAll := "@" + addr.Domain
	targets, err := x.r.Dir.AliasTargets(x.ctx, catchAll)
	if err != nil {
		return 0, fmt.Errorf("router: alias %s: %w", catchAll, err)
	}
	if len(targets) > 0 {
		x.implicit = true
		return x.expandAlias(catchAll, addr, targets, depth)
	}
	return UnknownUser, nil
}

// account delivers to the account of addr's base address, if there is one.
func (x *expansion) account(addr mailaddr.Address) (st Status, found bool, err error) {
	acct, err := x.r.Dir.Account(x.ctx, addr.Base().Key())
	if errors.Is(err, store.ErrNotFound) {
		return UnknownUser, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("router: account %s: %w", addr.Base().Key(), err)
	}
	if acct.Disabled {
		return Disabled, true, nil
	}
	if !x.seenAcct[acct.ID] {
		x.seenAcct[acct.ID] = true
		x.local = append(x.local, LocalTarget{Account: acct, Address: addr.String(), Tag: addr.Tag()})
	}
	return Deliver, true, nil
}

// expandAlias follows the targets of the alias key (which addr matched).
func (x *expansion) expandAlias(key string, addr mailaddr.Address, targets []string, depth int) (Status, error) {
	if x.onPath[key] {
		return 0, fmt.Errorf("%w: %s refers to itself", ErrLoop, key)
	}
	x.onPath[key] = true
	defer delete(x.onPath, key)
	delivered := false
	for _, t := range targets {
		ta, err := mailaddr.Parse(t)
		if err != nil {
			x.skipped = append(x.skipped, t)
			continue
		}
		var st Status
		if ta.Key() == key || x.onPath[ta.Key()] {
			// A self-reference: deliver to the account of that name if
			// there is one, else it is a loop.
			var found bool
			st, found, err = x.account(ta)
			if err == nil && !found {
				err = fmt.Errorf("%w: %s → %s", ErrLoop, key, ta.Key())
			}
		} else {
			st, err = x.target(ta, depth+1)
		}
		if err != nil {
			return 0, err
		}
		if st == Deliver {
			delivered = true
		} else {
			x.skipped = append(x.skipped, t)
		}
	}
	if !delivered {
		return UnknownUser, nil
	}
	return Deliver, nil
}

// target resolves one alias target: ours recursively, others as remote.
func (x *expansion) target(ta mailaddr.Address, depth int) (Status, error) {
	ours, err := x.r.IsOurDomain(x.ctx, ta.Domain)
	if err != nil {
		return 0, err
	}
	if ours {
		return x.resolveLocal(ta, depth)
	}
	if ta.IsLiteral() {
		return UnknownUser, nil // never forward to address literals
	}
	k := ta.String()
	if !x.seenRemote[k] {
		x.seenRemote[k] = true
		x.remote = append(x.remote, ta)
	}
	return Deliver, nil
}

package auth

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"
	"github.com/kantorpos/kantorpos/internal/clock"
)

// LimiterConfig sets how failed logins from one network are slowed and refused.
type LimiterConfig struct {
	// FreeFailures is how many failures within Window pass without delay.
	FreeFailures int
	// BaseDelay is the delay after the first failure beyond FreeFailures; it
	// doubles with each further failure up to MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxFailures within Window makes every further attempt from that
	// network fail at once until the window passes.
	MaxFailures int
	Window      time.Duration
	// MaxRecords caps the limiter's memory: networks plus the per-account
	// records under them. Beyond it, expired records are dropped, then the
	// least recently failed networks.
	MaxRecords int
}

// DefaultLimiterConfig: 5 free failures, then 1 s doubling to 30 s, refuse
// after 20 failures within 15 minutes; at most 100,000 records.
var DefaultLimiterConfig = LimiterConfig{
	FreeFailures: 5,
	BaseDelay:    time.Second,
	MaxDelay:     30 * time.Second,
	MaxFailures:  20,
	Window:       15 * time.Minute,
	MaxRecords:   100_000,
}

// maxAccountsPerNet bounds the per-account records of one network; further
// failures count for the network only (no success clears them).
const maxAccountsPerNet = 32

// Limiter counts failed logins per client network (an IPv4 address or an
// IPv6 /64, clientaddr.Prefix), across all protocols, so that password
// guessing is slowed and then refused. Under each network it keeps one
// record per target account: a success clears only the failures against
// that account, so a good login as one account does not reset the guesses
// made at another.
//
// Every attempt is reserved (Reserve) before its password is verified and
// counts as a failure until its result is known (Attempt.Failed,
// Succeeded, Abandon): attempts made in parallel cannot all pass the check
// before the first failure is counted. Within the free failures an attempt
// that would only be over the budget because of attempts still in flight
// waits for their results (a client opening several connections at once
// logs in without delay); beyond them it is delayed or refused as if the
// attempts in flight had failed, and waits when they could still succeed.
//
// It never locks out an account: a client on another network with the
// right password still gets in.
type Limiter struct {
	cfg   LimiterConfig
	clock clock.Clock

	mu      sync.Mutex
	nets    map[netip.Prefix]*netRecord
	records int // len(nets) plus every netRecord's len(accounts)
}

// netRecord is one network's failures within its window.
type netRecord struct {
	first    time.Time // first failure of the window
	last     time.Time // latest failure, for eviction
	failures int       // all failures in the window (accounts' and others)
	inflight int       // reserved attempts whose result is not known
	waiting  int       // attempts waiting for those in flight
	accounts []accountFailures
	// changed is closed (and replaced) whenever an attempt ends, to wake
	// the attempts waiting for the ones in flight.
	changed chan struct{}
}

// accountFailures is the failures against one login name (a digest of its
// lower-cased form: fixed size, whatever the client sent).
type accountFailures struct {
	account [16]byte
	n       int
}

// Attempt is a reserved login attempt. Exactly one of Failed, Succeeded or
// Abandon ends it; further calls do nothing.
type Attempt struct {
	l       *Limiter
	key     netip.Prefix
	net     *netRecord
	account [16]byte
	done    bool
}

// NewLimiter returns a limiter; zero fields of cfg take the defaults.
func NewLimiter(cfg LimiterConfig, c clock.Clock) *Limiter {
	d := DefaultLimiterConfig
	if cfg.FreeFailures == 0 {
		cfg.FreeFailures = d.FreeFailures
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = d.BaseDelay
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = d.MaxDelay
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = d.MaxFailures
	}
	cfg.FreeFailures = min(cfg.FreeFailures, cfg.MaxFailures)
	if cfg.Window == 0 {
		cfg.Window = d.Window
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = d.MaxRecords
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Limiter{cfg: cfg, clock: c, nets: map[netip.Prefix]*netRecord{}}
}

// accountKey is the record key of a login name.
func accountKey(username string) [16]byte {
	sum := sha256.Sum256([]byte(strings.ToLower(username)))
	return [16]byte(sum[:16])
}

// Reserve reserves a login attempt at account (the login name as the
// client sent it) from ip. It returns how long to wait before verifying
// the password, or ErrTooManyFailures when the network is refused. It
// waits, until ctx ends, while the verdict depends on attempts in flight
// (see Limiter). An address that is not valid is counted as one network.
func (l *Limiter) Reserve(ctx context.Context, ip netip.Addr, account string) (*Attempt, time.Duration, error) {
	key := clientaddr.Prefix(ip)
	acct := accountKey(account)
	l.mu.Lock()
	for {
		n := l.net(key)
		failures, inflight := 0, 0
		if n != nil {
			failures, inflight = n.failures, n.inflight
		}
		pending := failures + inflight
		var delay time.Duration
		switch {
		case failures >= l.cfg.MaxFailures:
			l.mu.Unlock()
			return nil, 0, ErrTooManyFailures
		case pending < l.cfg.FreeFailures:
		case failures < l.cfg.FreeFailures || pending >= l.cfg.MaxFailures:
			// Over the budget only if attempts in flight fail: wait for
			// them (inflight > 0 here).
			ch := n.changed
			n.waiting++
			l.mu.Unlock()
			var err error
			select {
			case <-ch:
			case <-ctx.Done():
				err = ctx.Err()
			}
			l.mu.Lock()
			n.waiting--
			if err != nil {
				l.mu.Unlock()
				return nil, 0, err
			}
			continue
		default:
			delay = l.delay(pending)
		}
		if n == nil {
			n = &netRecord{changed: make(chan struct{})}
			l.nets[key] = n
			l.records++
		}
		n.inflight++ // before prune, which keeps networks in flight
		l.prune()
		l.mu.Unlock()
		return &Attempt{l: l, key: key, net: n, account: acct}, delay, nil
	}
}

// delay is the wait before an attempt when pending attempts (failed or in
// flight) precede it: BaseDelay doubling per attempt beyond FreeFailures.
func (l *Limiter) delay(pending int) time.Duration {
	d := l.cfg.BaseDelay
	for i := l.cfg.FreeFailures; i < pending && d < l.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// net returns the record of key, its failures reset when its window has
// passed; nil when there is none.
func (l *Limiter) net(key netip.Prefix) *netRecord {
	n := l.nets[key]
	if n != nil {
		l.expire(n)
	}
	return n
}

// expire forgets n's failures when its window has passed.
func (l *Limiter) expire(n *netRecord) {
	if n.failures > 0 && l.clock.Now().Sub(n.first) > l.cfg.Window {
		l.records -= len(n.accounts)
		n.failures, n.accounts = 0, nil
	}
}

// Failed ends the attempt as a failed login: it counts against the
// network and the account until the window passes.
func (a *Attempt) Failed() {
	a.end(func(l *Limiter, n *netRecord) {
		now := l.clock.Now()
		l.expire(n)
		if n.failures == 0 {
			n.first = now
		}
		n.failures++
		n.last = now
		for i := range n.accounts {
			if n.accounts[i].account == a.account {
				n.accounts[i].n++
				return
			}
		}
		if len(n.accounts) < maxAccountsPerNet {
			n.accounts = append(n.accounts, accountFailures{account: a.account, n: 1})
			l.records++
			l.prune()
		}
	})
}

// Succeeded ends the attempt as a good login: the network's failures
// against that account are forgotten, the others stay.
func (a *Attempt) Succeeded() {
	a.end(func(l *Limiter, n *netRecord) {
		l.expire(n)
		for i, af := range n.accounts {
			if af.account == a.account {
				n.failures -= af.n
				n.accounts = slices.Delete(n.accounts, i, i+1)
				l.records--
				return
			}
		}
	})
}

// Abandon ends the attempt without a result (the client went away, the
// store failed): nothing is counted. It does nothing after Failed or
// Succeeded, so callers can defer it.
func (a *Attempt) Abandon() { a.end(func(*Limiter, *netRecord) {}) }

func (a *Attempt) end(f func(*Limiter, *netRecord)) {
	if a == nil || a.done {
		return
	}
	a.done = true
	l, n := a.l, a.net
	l.mu.Lock()
	defer l.mu.Unlock()
	n.inflight--
	f(l, n)
	close(n.changed)
	n.changed = make(chan struct{})
	if n.inflight == 0 && n.failures == 0 && l.nets[a.key] == n {
		delete(l.nets, a.key)
		l.records -= 1 + len(n.accounts)
	}
}

// prune keeps the records under MaxRecords: when over it, it drops the
// networks whose window has passed, then, down to 90%, the networks that
// failed least recently. Networks with attempts in flight stay. l.mu is
// held.
func (l *Limiter) prune() {
	if l.records <= l.cfg.MaxRecords {
		return
	}
	now := l.clock.Now()
	drop := func(k netip.Prefix, n *netRecord) {
		delete(l.nets, k)
		l.records -= 1 + len(n.accounts)
	}
	idle := make([]netip.Prefix, 0, len(l.nets))
	for k, n := range l.nets {
		switch {
		case n.inflight > 0:
		case n.failures == 0 || now.Sub(n.first) > l.cfg.Window:
			drop(k, n)
		default:
			idle = append(idle, k)
		}
	}
	target := l.cfg.MaxRecords - max(l.cfg.MaxRecords/10, 1)
	if l.records <= target {
		return
	}
	slices.SortFunc(idle, func(a, b netip.Prefix) int { return l.nets[a].last.Compare(l.nets[b].last) })
	for _, k := range idle {
		if l.records <= target {
			break
		}
		drop(k, l.nets[k])
	}
}

// Len is the number of records (networks and their accounts) held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records
}

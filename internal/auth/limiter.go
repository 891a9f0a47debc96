package auth

import (
	"net/netip"
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
}

// DefaultLimiterConfig: 5 free failures, then 1 s doubling to 30 s, refuse
// after 20 failures within 15 minutes.
var DefaultLimiterConfig = LimiterConfig{
	FreeFailures: 5,
	BaseDelay:    time.Second,
	MaxDelay:     30 * time.Second,
	MaxFailures:  20,
	Window:       15 * time.Minute,
}

// Limiter counts failed logins per client network (an IPv4 address or an
// IPv6 /64), across all protocols, so that password guessing is slowed and
// then refused. It never locks out an account: a client elsewhere with the
// right password still gets in.
type Limiter struct {
	cfg   LimiterConfig
	clock clock.Clock

	mu      sync.Mutex
	entries map[netip.Prefix]*limitEntry
}

type limitEntry struct {
	failures int
	first    time.Time
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
	if cfg.Window == 0 {
		cfg.Window = d.Window
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Limiter{cfg: cfg, clock: c, entries: map[netip.Prefix]*limitEntry{}}
}

// Check returns how long to wait before verifying a login from ip, and
// whether the attempt is refused outright.
func (l *Limiter) Check(ip netip.Addr) (delay time.Duration, refused bool) {
	if !ip.IsValid() {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(ip, false)
	if e == nil {
		return 0, false
	}
	if e.failures >= l.cfg.MaxFailures {
		return 0, true
	}
	over := e.failures - l.cfg.FreeFailures
	if over < 0 {
		return 0, false
	}
	delay = l.cfg.BaseDelay
	for i := 0; i < over && delay < l.cfg.MaxDelay; i++ {
		delay *= 2
	}
	return min(delay, l.cfg.MaxDelay), false
}

// Failed records a failed login from ip.
func (l *Limiter) Failed(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(ip, true).failures++
	if len(l.entries) > 100000 {
		l.sweep()
	}
}

// Succeeded forgets the failures of ip.
func (l *Limiter) Succeeded(ip netip.Addr) {
	l.mu.Lock()
	delete(l.entries, clientaddr.Prefix(ip))
	l.mu.Unlock()
}

// entry returns the live entry for ip, creating it when create is set.
func (l *Limiter) entry(ip netip.Addr, create bool) *limitEntry {
	k := clientaddr.Prefix(ip)
	now := l.clock.Now()
	e := l.entries[k]
	if e != nil && now.Sub(e.first) > l.cfg.Window {
		delete(l.entries, k)
		e = nil
	}
	if e == nil && create {
		e = &limitEntry{first: now}
		l.entries[k] = e
	}
	return e
}

func (l *Limiter) sweep() {
	now := l.clock.Now()
	for k, e := range l.entries {
		if now.Sub(e.first) > l.cfg.Window {
			delete(l.entries, k)
		}
	}
}

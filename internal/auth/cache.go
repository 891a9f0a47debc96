package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
)

// VerifiedCache remembers, for a while, that a password matched an account's
// stored hash, so that a client that logs in again and again (a POP3 poller,
// the several connections of an IMAP client) pays for one argon2id
// computation, not one per connection. It is Dovecot's auth cache, for
// successes only.
//
// An entry is an HMAC-SHA256, under a key made at start and never stored,
// of the login name, the password and the stored hash: a changed password
// (or hash) never matches an old entry, and the cache holds no password.
// Failures are never cached, so guessing still costs a full hash each time.
type VerifiedCache struct {
	ttl   time.Duration
	max   int
	clock clock.Clock
	key   []byte

	mu      sync.Mutex
	entries map[[sha256.Size]byte]time.Time // → expiry
}

// NewVerifiedCache returns a cache whose entries live ttl and of which at
// most max are kept (0: 100,000). A zero ttl returns nil: no cache.
func NewVerifiedCache(ttl time.Duration, max int, c clock.Clock) *VerifiedCache {
	if ttl <= 0 {
		return nil
	}
	if max <= 0 {
		max = 100_000
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return &VerifiedCache{ttl: ttl, max: max, clock: c, key: key, entries: map[[sha256.Size]byte]time.Time{}}
}

func (v *VerifiedCache) sum(username, password, hash string) [sha256.Size]byte {
	m := hmac.New(sha256.New, v.key)
	for _, s := range []string{strings.ToLower(username), password, hash} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Hit reports whether password was verified against hash for username
// within the TTL. A nil cache never hits.
func (v *VerifiedCache) Hit(username, password, hash string) bool {
	if v == nil || hash == "" {
		return false
	}
	k := v.sum(username, password, hash)
	now := v.clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	exp, ok := v.entries[k]
	if ok && now.After(exp) {
		delete(v.entries, k)
		return false
	}
	return ok
}

// Add records a successful verification.
func (v *VerifiedCache) Add(username, password, hash string) {
	if v == nil || hash == "" {
		return
	}
	k := v.sum(username, password, hash)
	now := v.clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		// Full: drop the expired entries, and if that is not a tenth,
		// arbitrary ones (map order) down to 90%, so that the next Adds
		// do not scan the map again. A dropped entry costs its owner one
		// more hash.
		for e, exp := range v.entries {
			if now.After(exp) {
				delete(v.entries, e)
			}
		}
		for e := range v.entries {
			if len(v.entries) <= v.max-max(v.max/10, 1) {
				break
			}
			delete(v.entries, e)
		}
	}
	v.entries[k] = now.Add(v.ttl)
}

// Len is the number of entries, expired ones included.
func (v *VerifiedCache) Len() int {
	if v == nil {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.entries)
}

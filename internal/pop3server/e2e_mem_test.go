package pop3server

import (
	"slices"
	"testing"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

var authNoLimit = auth.LimiterConfig{FreeFailures: 1000, MaxFailures: 1000}

// newE2E runs the end-to-end tests over the in-memory backend.
func newE2E(t *testing.T) *e2eEnv {
	b := newMemBackend()
	env := &e2eEnv{}
	env.stlsAddr, env.tlsAddr, env.certFile = e2eServers(t, b)
	ids := map[string]int64{"alice@example.test": 1, "bob@example.test": 2}
	env.deliver = func(t *testing.T, user, msg string) { b.add(ids[user], msg) }
	env.count = func(t *testing.T, user string) int { return len(b.uids(ids[user])) }
	env.seen = func(t *testing.T, user string) int {
		n := 0
		for _, u := range b.uids(ids[user]) {
			if slices.Contains(b.flags(ids[user], u), store.FlagSeen) {
				n++
			}
		}
		return n
	}
	return env
}

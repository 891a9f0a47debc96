package adminweb

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
)

// sessionCookie names the browser session cookie.
const sessionCookie = "kantorpos_session"

// session is one signed-in browser. Its id is the cookie value: 130 random
// bits, never derived from the account; csrf is a second random value the
// pages embed and state-changing requests send back.
type session struct {
	id        string
	csrf      string
	accountID int64
	created   time.Time
	seen      time.Time
}

// sessions are kept in this process's memory: a restart signs everyone out,
// and in cluster mode a browser must reach the node it signed in on (or
// scripts use API tokens, which every node checks in the database).
type sessions struct {
	clock     clock.Clock
	idle, max time.Duration
	limit     int

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(clk clock.Clock, idle, max time.Duration, limit int) *sessions {
	return &sessions{clock: clk, idle: idle, max: max, limit: limit, m: map[string]*session{}}
}

// create starts a session for an account.
func (s *sessions) create(accountID int64) *session {
	now := s.clock.Now()
	ss := &session{id: rand.Text(), csrf: rand.Text(), accountID: accountID, created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.limit {
		s.expireLocked(now)
	}
	if len(s.m) >= s.limit { // still full: drop the least recently seen
		var oldest *session
		for _, x := range s.m {
			if oldest == nil || x.seen.Before(oldest.seen) {
				oldest = x
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[ss.id] = ss
	return ss
}

func (s *sessions) expireLocked(now time.Time) {
	for id, x := range s.m {
		if s.expired(x, now) {
			delete(s.m, id)
		}
	}
}

func (s *sessions) expired(x *session, now time.Time) bool {
	return now.Sub(x.seen) > s.idle || now.Sub(x.created) > s.max
}

// get returns the live session with this id and marks it seen.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.m[id]
	if x == nil {
		return nil
	}
	if s.expired(x, now) {
		delete(s.m, id)
		return nil
	}
	x.seen = now
	c := *x
	return &c
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// deleteAccount ends every session of an account (password changed,
// account disabled or deleted).
func (s *sessions) deleteAccount(accountID int64, except string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, x := range s.m {
		if x.accountID == accountID && id != except {
			delete(s.m, id)
		}
	}
}

// checkCSRF compares a submitted token with the session's in constant time.
func (x *session) checkCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(x.csrf)) == 1
}

// setCookie sends the session cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure over TLS.
func (h *Handler) setCookie(w http.ResponseWriter, x *session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: x.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: h.cfg.Secure, MaxAge: int(h.cfg.SessionMax.Seconds())})
}

func (h *Handler) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: h.cfg.Secure, MaxAge: -1})
}

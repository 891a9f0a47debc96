package adminweb

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strings"
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
	// flashOK and flashErr are the outcome of the last form post, shown
	// once by the next page of this session (Post/Redirect/Get). They live
	// here, not in the URL, so no link can put words on our pages.
	flashOK, flashErr string
}

// maxFlash bounds a flash message (they quote form fields).
const maxFlash = 1000

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

// setFlash keeps the outcome of a form post for the session's next page.
func (s *sessions) setFlash(id, ok, errMsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.m[id]; x != nil {
		x.flashOK, x.flashErr = truncate(ok, maxFlash), truncate(errMsg, maxFlash)
	}
}

// takeFlash returns the session's flash messages and forgets them.
func (s *sessions) takeFlash(id string) (ok, errMsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.m[id]
	if x == nil {
		return "", ""
	}
	ok, errMsg = x.flashOK, x.flashErr
	x.flashOK, x.flashErr = "", ""
	return ok, errMsg
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
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

// noticeCookie carries a notice to the sign-in page of a browser that has
// no session (after signing out). Its value is a key of notices, never
// text: whoever sets the cookie can only pick one of these messages.
const noticeCookie = "kantorpos_notice"

var notices = map[string]string{"signed-out": "Signed out."}

func (h *Handler) setNotice(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: key, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: h.cfg.Secure, MaxAge: 60})
}

// takeNotice returns the notice the request's cookie names, and clears the cookie.
func (h *Handler) takeNotice(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: "", Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: h.cfg.Secure, MaxAge: -1})
	return notices[c.Value]
}

package hostile

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// SASL PLAIN (security.md 1.8) on all three protocols, over TLS: a foreign
// authzid, malformed base64, missing fields, 13 kB and 64 kB response
// lines. None may log in; each gets a refusal or a close. (Two replies
// come from the wire libraries and are reported, not failed: go-smtp
// answers bad base64 with 454 4.7.0 where RFC 4954 says 501, go-imap
// answers a bad base64 initial response with NO [SERVERBUG].)
func TestSASLPlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.AddUser(t, "mallory@example.test", "mallory's long password")
	type cell struct {
		name string
		resp string // the base64 response (sent as initial response)
	}
	cells := []cell{
		{"foreign authzid", b64(user + "\x00mallory@example.test\x00mallory's long password")},
		{"empty authcid", b64(user + "\x00\x00" + password)},
		{"two fields", b64(user + "\x00" + password)},
		{"four fields", b64("\x00" + user + "\x00" + password + "\x00x")},
		{"bad base64", "!!!notbase64"},
		{"padding inside", "=AAA"},
		{"13 kB", strings.Repeat("A", 13<<10)},
		{"64 kB", strings.Repeat("A", 64<<10)},
		{"CRLF in the name", b64("\x00" + user + "\r\nX-Evil: 1\x00" + password)},
	}
	for _, name := range []string{"submissions", "imaps", "pop3s"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, cl := range cells {
				c := dial(t, e, name, sourceIP())
				c.greet()
				var cmd string
				switch proto(name) {
				case "smtp":
					c.cmd("EHLO client.test", "250 ")
					cmd = "AUTH PLAIN " + cl.resp
				case "imap":
					cmd = "A AUTHENTICATE PLAIN " + cl.resp
				default:
					cmd = "AUTH PLAIN " + cl.resp
				}
				c.sendMaybe(cmd + "\r\n")
				got, closed := c.drain(700 * time.Millisecond)
				reply := strings.Join(got, " | ")
				if strings.Contains(reply, "235") || strings.Contains(reply, "A OK") || strings.Contains(reply, "+OK") && !strings.HasPrefix(reply, "+OK") {
					t.Errorf("%s: accepted: %q", cl.name, reply)
				}
				if len(got) == 0 && !closed {
					t.Errorf("%s: no reply and not closed", cl.name)
				}
				// Beyond the line limits (SMTP 16 KiB, the IMAP library's
				// 50 KiB, POP3 4 KiB): an error for the line, or a close.
				if cl.name == "64 kB" && !closed && !strings.HasPrefix(reply, "500") && !strings.Contains(reply, " BAD ") &&
					!strings.Contains(reply, "BYE") && !strings.HasPrefix(reply, "-ERR") {
					t.Errorf("%s: %q, want a line-too-long error or a close", cl.name, reply)
				}
				t.Logf("%s: %q closed=%v", cl.name, reply, closed)
			}
			// The real owner still gets in (no lockout from the victim's name).
			c := dial(t, e, name, sourceIP())
			c.greet()
			if r := c.login(user, password); !loginOK(r) {
				t.Errorf("good login after the attempts: %q", r)
			}
		})
	}
}

// Brute force (security.md 1.9): 200 bad logins from one address are
// slowed (auth.failures_before_delay, then 1 s doubling) and then refused
// (auth.max_failures), on each protocol, while a good login from another
// address (127.0.0.2) still works. The limits are lowered to keep the test
// short: 5 free failures, refusal after 8.
func TestBruteForce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.Auth.FailuresBeforeDelay = 5; c.Auth.MaxFailures = 8 })
	var wg sync.WaitGroup
	for i, name := range []string{"submissions", "imaps", "pop3s"} {
		ip := fmt.Sprintf("127.0.5.%d", i+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var took []time.Duration
			var replies []string
			var c *conn
			for attempt := range 200 {
				if c == nil {
					var err error
					if c, err = dialErr(e, name, ip, nil); err != nil {
						t.Errorf("%s: dial: %v", name, err)
						return
					}
					c.t = t
					c.greet()
				}
				start := time.Now()
				r := c.login(user, "wrong password "+fmt.Sprint(attempt))
				took = append(took, time.Since(start))
				replies = append(replies, r)
				if loginOK(r) {
					t.Errorf("%s: wrong password accepted", name)
				}
				// The protocols close after a few failures in one
				// connection; reconnect as a brute-forcer would.
				if _, closed := c.drain(10 * time.Millisecond); closed || r == "" || strings.HasPrefix(r, "421") {
					c.c.Close()
					c = nil
				}
			}
			if c != nil {
				c.c.Close()
			}
			// Slowed: attempts 6..8 wait 1, 2, 4 s. Refused: later ones
			// are answered at once with a refusal.
			slow := 0
			for _, d := range took[5:8] {
				if d >= 900*time.Millisecond {
					slow++
				}
			}
			if slow < 3 {
				t.Errorf("%s: attempts 6-8 took %v, want each ≥ 1s", name, took[5:8])
			}
			var late time.Duration
			for _, d := range took[10:] {
				late = max(late, d)
			}
			if late > 2*time.Second {
				t.Errorf("%s: refused attempts took up to %v: want an immediate refusal", name, late)
			}
			t.Logf("%s: attempts 1-8 took %v; 11-200 at most %v; last reply %q", name, round(took[:8]), late, replies[len(replies)-1])
		}()
	}
	wg.Wait()
	// Another address logs in at once on every protocol.
	for _, name := range []string{"submissions", "imaps", "pop3s"} {
		c := dial(t, e, name, "127.0.0.2")
		c.greet()
		start := time.Now()
		if r := c.login(user, password); !loginOK(r) {
			t.Errorf("%s: good login from 127.0.0.2 after the attack: %q", name, r)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: good login from 127.0.0.2 took %v", name, d)
		}
	}
	// And the attacked address with the right password is still refused
	// until the window passes (no bypass by guessing right).
	c := dial(t, e, "imaps", "127.0.5.2")
	c.greet()
	if r := c.login(user, password); loginOK(r) {
		t.Errorf("right password from the refused address accepted: %q", r)
	}
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}

// Unknown user and wrong password take the same time (security.md 1.9),
// with the production password hash (argon2id, auth.DefaultParams). The
// medians are reported; the bound is generous (timing on a shared CI
// machine is noisy): within 25% of each other.
func TestLoginTimingUnknownVsWrong(t *testing.T) {
	params := auth.DefaultParams
	e := testenv.Start(t, testenv.Options{HashParams: &params, Configure: func(c *config.Config) {
		c.IMAP.AllowInsecureAuth = false
	}})
	e.AddUser(t, user, password)
	const rounds = 15
	var unknown, wrong []time.Duration
	for i := range rounds {
		// Fresh addresses: each stays under the free failures.
		for _, k := range []string{"unknown", "wrong"} {
			c := dial(t, e, "imaps", sourceIP())
			c.greet()
			u := user
			if k == "unknown" {
				u = fmt.Sprintf("nobody%d@example.test", i)
			}
			start := time.Now()
			r := c.login(u, "not the password")
			d := time.Since(start)
			if loginOK(r) {
				t.Fatalf("%s login accepted", k)
			}
			if k == "unknown" {
				unknown = append(unknown, d)
			} else {
				wrong = append(wrong, d)
			}
			c.c.Close()
		}
	}
	mu, mw := median(unknown), median(wrong)
	diff := float64(mu-mw) / float64(max(mu, mw))
	t.Logf("IMAP LOGIN medians over %d tries each: unknown user %v, wrong password %v (difference %.1f%%)", rounds, mu, mw, 100*diff)
	if diff > 0.25 || diff < -0.25 {
		t.Errorf("unknown user %v vs wrong password %v: more than 25%% apart (user enumeration by timing)", mu, mw)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

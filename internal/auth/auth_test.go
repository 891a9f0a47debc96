package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kantorpos/kantorpos/internal/clock"
)

type memCreds struct {
	mu    sync.Mutex
	users map[string]Credentials
}

func (m *memCreds) Credentials(_ context.Context, u string) (Credentials, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.users[strings.ToLower(u)]
	return c, ok, nil
}

func (m *memCreds) SetPasswordHash(_ context.Context, id int64, h string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.users {
		if c.AccountID == id {
			c.PasswordHash = h
			m.users[k] = c
		}
	}
	return nil
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := NewHasher(TestParams)
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %q", enc)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	tests := []struct {
		enc, pw string
		want    bool
		wantErr bool
	}{
		{enc, "correct horse", true, false},
		{enc, "wrong horse", false, false},
		{"", "anything", false, false},
		{string(bc), "correct horse", true, false},
		{"{BLF-CRYPT}" + string(bc), "correct horse", true, false},
		{string(bc), "nope", false, false},
		{"$argon2id$v=19$garbage", "x", false, true},
		{"$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "x", false, true},
		{"{PLAIN}secret", "secret", false, true},
	}
	for _, tt := range tests {
		got, err := h.Verify(ctx, tt.enc, tt.pw)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Verify(%q, %q) = %v, %v; want %v, err %v", tt.enc, tt.pw, got, err, tt.want, tt.wantErr)
		}
	}
	if h.NeedsRehash(enc) || !h.NeedsRehash(string(bc)) {
		t.Error("NeedsRehash wrong")
	}
}

func TestCheckStrength(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "short", " padded password", "a\x00bcdefghij"} {
		if err := CheckStrength(pw); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckStrength(%q) = %v", pw, err)
		}
	}
	if err := CheckStrength("long enough pass"); err != nil {
		t.Error(err)
	}
}

func newService(t testing.TB) (*Service, *memCreds) {
	t.Helper()
	h := NewHasher(TestParams)
	enc, _ := h.Hash(context.Background(), "good password")
	bc, _ := bcrypt.GenerateFromPassword([]byte("imported pass"), bcrypt.MinCost)
	creds := &memCreds{users: map[string]Credentials{
		"demo@example.test": {AccountID: 1, Address: "demo@example.test", PasswordHash: enc},
		"off@example.test":  {AccountID: 2, Address: "off@example.test", PasswordHash: enc, Disabled: true},
		"old@example.test":  {AccountID: 3, Address: "old@example.test", PasswordHash: string(bc)},
	}}
	s := &Service{Store: creds, Hasher: h, Limiter: NewLimiter(LimiterConfig{FreeFailures: 1, MaxFailures: 3}, nil),
		Sleep: func(context.Context, time.Duration) error { return nil }}
	return s, creds
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, creds := newService(t)
	ip := netip.MustParseAddr("198.51.100.7")
	id, err := s.Authenticate(ctx, "Demo@Example.test", "good password", ip, "imap")
	if err != nil || id.AccountID != 1 || id.Address != "demo@example.test" {
		t.Fatalf("good login: %v, %v", id, err)
	}
	for _, c := range []struct{ u, p string }{{"demo@example.test", "bad"}, {"nobody@example.test", "good password"}, {"off@example.test", "good password"}} {
		if _, err := s.Authenticate(ctx, c.u, c.p, netip.MustParseAddr("198.51.100.8"), "imap"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s/%s: err = %v", c.u, c.p, err)
		}
	}
	// Three failures from .8: refused now even with the right password,
	// while another address still gets in.
	if _, err := s.Authenticate(ctx, "demo@example.test", "good password", netip.MustParseAddr("198.51.100.8"), "imap"); !errors.Is(err, ErrTooManyFailures) {
		t.Errorf("after 3 failures: err = %v", err)
	}
	if _, err := s.Authenticate(ctx, "demo@example.test", "good password", ip, "pop3"); err != nil {
		t.Errorf("other address: %v", err)
	}
	// bcrypt hash is upgraded to argon2id on login.
	if _, err := s.Authenticate(ctx, "old@example.test", "imported pass", ip, "smtp"); err != nil {
		t.Fatal(err)
	}
	c, _, _ := creds.Credentials(ctx, "old@example.test")
	if !strings.HasPrefix(c.PasswordHash, "$argon2id$") {
		t.Errorf("hash not upgraded: %q", c.PasswordHash)
	}
}

func TestSASL(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	ip := netip.MustParseAddr("203.0.113.1")
	tests := []struct {
		name  string
		mech  string
		steps [][]byte
		err   error
	}{
		{"plain ok", Plain, [][]byte{[]byte("\x00demo@example.test\x00good password")}, nil},
		{"plain same authzid", Plain, [][]byte{[]byte("DEMO@example.test\x00demo@example.test\x00good password")}, nil},
		{"plain no initial response", Plain, [][]byte{nil, []byte("\x00demo@example.test\x00good password")}, nil},
		{"plain foreign authzid", Plain, [][]byte{[]byte("victim@example.test\x00demo@example.test\x00good password")}, ErrInvalidCredentials},
		{"plain two fields", Plain, [][]byte{[]byte("demo@example.test\x00good password")}, ErrMalformed},
		{"plain four fields", Plain, [][]byte{[]byte("\x00a\x00b\x00c")}, ErrMalformed},
		{"plain empty authcid", Plain, [][]byte{[]byte("demo@example.test\x00\x00good password")}, ErrMalformed},
		{"plain empty", Plain, [][]byte{[]byte("")}, ErrMalformed},
		{"login ok", Login, [][]byte{nil, []byte("demo@example.test"), []byte("good password")}, nil},
		{"login initial response", Login, [][]byte{[]byte("demo@example.test"), []byte("good password")}, nil},
		{"login bad", Login, [][]byte{nil, []byte("demo@example.test"), []byte("nope")}, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		var got Identity
		srv, ok := s.SASL(context.Background(), tt.mech, ip, "smtp", func(id Identity) { got = id })
		if !ok {
			t.Fatalf("%s: mechanism missing", tt.name)
		}
		var err error
		done := false
		for _, st := range tt.steps {
			_, done, err = srv.Next(st)
			if done || err != nil {
				break
			}
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
		if tt.err == nil && (!done || got.AccountID != 1) {
			t.Errorf("%s: done=%v identity=%v", tt.name, done, got)
		}
	}
	if _, ok := s.SASL(context.Background(), "CRAM-MD5", ip, "smtp", nil); ok {
		t.Error("unexpected mechanism")
	}
}

func TestVerifiedCache(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	c := NewVerifiedCache(10*time.Minute, 3, clk)
	c.Add("Demo@example.test", "pw", "$hash1")
	for _, tc := range []struct {
		user, pw, hash string
		want           bool
	}{
		{"demo@example.test", "pw", "$hash1", true}, // login names are case-insensitive
		{"demo@example.test", "pw2", "$hash1", false},
		{"demo@example.test", "pw", "$hash2", false}, // password changed
		{"other@example.test", "pw", "$hash1", false},
		{"demo@example.test", "pw", "", false}, // unknown user
	} {
		if got := c.Hit(tc.user, tc.pw, tc.hash); got != tc.want {
			t.Errorf("Hit(%q, %q, %q) = %v, want %v", tc.user, tc.pw, tc.hash, got, tc.want)
		}
	}
	clk.Advance(10*time.Minute + time.Second)
	if c.Hit("demo@example.test", "pw", "$hash1") {
		t.Error("hit after the TTL")
	}
	for i := range 10 {
		c.Add("u@example.test", strings.Repeat("x", i+1), "$h")
	}
	if n := c.Len(); n > 3 {
		t.Errorf("%d entries, max 3", n)
	}
	if !c.Hit("u@example.test", strings.Repeat("x", 10), "$h") {
		t.Error("the newest entry was dropped")
	}
	// At capacity a tenth is dropped at once, not one entry per Add.
	big := NewVerifiedCache(time.Hour, 100, clk)
	for i := range 101 {
		big.Add("u@example.test", fmt.Sprint(i), "$h")
	}
	if n := big.Len(); n != 91 {
		t.Errorf("after 101 Adds to a cache of 100: %d entries, want 91", n)
	}
	var none *VerifiedCache = NewVerifiedCache(0, 0, clk)
	none.Add("a@b", "pw", "$h")
	if none.Hit("a@b", "pw", "$h") {
		t.Error("a disabled (nil) cache hit")
	}
}

// TestAuthenticateCached: a cached success skips argon2id (proved by leaving
// the hasher no slot and the context cancelled), but never a changed
// password, a disabled account or a wrong password.
func TestAuthenticateCached(t *testing.T) {
	t.Parallel()
	s, creds := newService(t)
	clk := clock.NewFake(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	s.Cache = NewVerifiedCache(time.Minute, 0, clk)
	ip := netip.MustParseAddr("198.51.100.7")
	if _, err := s.Authenticate(context.Background(), "demo@example.test", "good password", ip, "imap"); err != nil {
		t.Fatal(err)
	}
	for range cap(s.Hasher.sem) {
		s.Hasher.sem <- struct{}{}
	}
	busy, cancel := context.WithCancel(context.Background())
	cancel()
	if id, err := s.Authenticate(busy, "DEMO@example.test", "good password", ip, "pop3"); err != nil || id.AccountID != 1 {
		t.Fatalf("cached login: %v, %v", id, err)
	}
	if _, err := s.Authenticate(busy, "demo@example.test", "bad password", ip, "pop3"); err == nil {
		t.Fatal("a wrong password got in while the hasher was busy")
	}
	// Disabled after the cached login: refused.
	creds.mu.Lock()
	c := creds.users["demo@example.test"]
	c.Disabled = true
	creds.users["demo@example.test"] = c
	creds.mu.Unlock()
	if _, err := s.Authenticate(busy, "demo@example.test", "good password", ip, "pop3"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("disabled account, cached password: err = %v", err)
	}
	for range cap(s.Hasher.sem) {
		<-s.Hasher.sem
	}
	// Password changed: the old one is verified afresh and fails.
	enc, _ := s.Hasher.Hash(context.Background(), "new password")
	c.Disabled, c.PasswordHash = false, enc
	creds.mu.Lock()
	creds.users["demo@example.test"] = c
	creds.mu.Unlock()
	if _, err := s.Authenticate(context.Background(), "demo@example.test", "good password", netip.MustParseAddr("198.51.100.9"), "imap"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password after a change: err = %v", err)
	}
	// Expired: verified afresh (the busy hasher makes it fail).
	if _, err := s.Authenticate(context.Background(), "demo@example.test", "new password", ip, "imap"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	for range cap(s.Hasher.sem) {
		s.Hasher.sem <- struct{}{}
	}
	if _, err := s.Authenticate(busy, "demo@example.test", "new password", ip, "imap"); err == nil {
		t.Fatal("an expired entry still skipped the hash")
	}
}

// countingCreds counts credential lookups: one per attempt that gets past
// the limiter and has its password verified.
type countingCreds struct {
	CredentialStore
	mu      sync.Mutex
	lookups int
}

func (c *countingCreds) Credentials(ctx context.Context, u string) (Credentials, bool, error) {
	c.mu.Lock()
	c.lookups++
	c.mu.Unlock()
	return c.CredentialStore.Credentials(ctx, u)
}

// TestAuthenticateLimits: the bypasses of issue 19 item 2, through the
// Service (limits: 1 free failure, refused after 3).
func TestAuthenticateLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("a good login as another account resets nothing", func(t *testing.T) {
		s, _ := newService(t)
		ip := netip.MustParseAddr("198.51.100.20")
		var errs []error
		for range 4 {
			_, err := s.Authenticate(ctx, "victim@example.test", "guess", ip, "imap")
			errs = append(errs, err)
			if _, err := s.Authenticate(ctx, "demo@example.test", "good password", ip, "imap"); err != nil && !errors.Is(err, ErrTooManyFailures) {
				t.Fatalf("good login as demo: %v", err)
			}
		}
		if !errors.Is(errs[3], ErrTooManyFailures) {
			t.Errorf("guesses at another account between good logins: %v; want refused by the 4th", errs)
		}
		// The victim, from elsewhere, still gets in.
		if _, err := s.Authenticate(ctx, "demo@example.test", "good password", netip.MustParseAddr("198.51.100.21"), "imap"); err != nil {
			t.Errorf("good login from another address: %v", err)
		}
	})
	t.Run("parallel attempts are counted before they are verified", func(t *testing.T) {
		s, creds := newService(t)
		cc := &countingCreds{CredentialStore: creds}
		s.Store = cc
		ip := netip.MustParseAddr("198.51.100.22")
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Authenticate(ctx, "demo@example.test", fmt.Sprint("guess ", i), ip, "imap")
				if errors.Is(err, ErrTooManyFailures) {
					mu.Lock()
					refused++
					mu.Unlock()
				} else if !errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("guess %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if cc.lookups != 3 || refused != 37 {
			t.Errorf("40 parallel guesses: %d verified, %d refused; want 3 and 37", cc.lookups, refused)
		}
	})
	t.Run("the password cache bypasses neither refusal nor delay", func(t *testing.T) {
		s, _ := newService(t)
		s.Cache = NewVerifiedCache(time.Hour, 0, clock.Real{})
		var slept []time.Duration
		s.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
		ip := netip.MustParseAddr("198.51.100.23")
		if _, err := s.Authenticate(ctx, "demo@example.test", "good password", ip, "imap"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "demo@example.test", "guess", ip, "imap"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
		// Cached password, one failure: delayed like any attempt.
		if _, err := s.Authenticate(ctx, "demo@example.test", "good password", ip, "imap"); err != nil || len(slept) != 1 {
			t.Fatalf("cached login after a failure: %v, slept %v; want a delay", err, slept)
		}
		for range 3 {
			s.Authenticate(ctx, "other@example.test", "guess", ip, "imap")
		}
		if _, err := s.Authenticate(ctx, "demo@example.test", "good password", ip, "imap"); !errors.Is(err, ErrTooManyFailures) {
			t.Fatalf("cached password from a refused network: %v", err)
		}
	})
}

// Package auth owns credentials: password hashing (argon2id, with bcrypt
// accepted for imported accounts), the SASL mechanisms our protocols offer,
// and the failed-login limiter shared by SMTP, IMAP, POP3 and the web
// sign-in.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are the argon2id cost parameters.
type Params struct {
	Time      uint32 // iterations
	MemoryKiB uint32
	Threads   uint8
	// MaxConcurrent bounds how many hashes run at once (each uses MemoryKiB).
	MaxConcurrent int
}

// DefaultParams are the production costs (about 100-200 ms on a small VM).
var DefaultParams = Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 2, MaxConcurrent: 4}

// TestParams are cheap parameters for tests. Never use them in production.
var TestParams = Params{Time: 1, MemoryKiB: 64, Threads: 1, MaxConcurrent: 8}

// MinPasswordLen is the shortest password accepted for new passwords.
const MinPasswordLen = 8

// ErrWeakPassword is returned for empty, short or otherwise unusable passwords.
var ErrWeakPassword = errors.New("password too weak")

// Hasher hashes and verifies passwords with a bounded number of concurrent
// argon2id computations.
type Hasher struct {
	p   Params
	sem chan struct{}
	// dummy is a hash of a random password with the current parameters,
	// verified for unknown users so that they take as long as wrong passwords.
	dummy string
}

// NewHasher returns a Hasher with p (zero fields take DefaultParams' values).
func NewHasher(p Params) *Hasher {
	if p.Time == 0 {
		p.Time = DefaultParams.Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = DefaultParams.MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = DefaultParams.Threads
	}
	if p.MaxConcurrent <= 0 {
		p.MaxConcurrent = DefaultParams.MaxConcurrent
	}
	h := &Hasher{p: p, sem: make(chan struct{}, p.MaxConcurrent)}
	var pw [16]byte
	rand.Read(pw[:])
	h.dummy = h.hash(base64.RawStdEncoding.EncodeToString(pw[:]))
	return h
}

// CheckStrength rejects passwords that must never be set.
func CheckStrength(password string) error {
	switch {
	case password == "":
		return fmt.Errorf("%w: empty", ErrWeakPassword)
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("%w: shorter than %d characters", ErrWeakPassword, MinPasswordLen)
	case strings.TrimSpace(password) != password:
		return fmt.Errorf("%w: leading or trailing white space", ErrWeakPassword)
	case strings.ContainsAny(password, "\x00\r\n"):
		return fmt.Errorf("%w: contains a control character", ErrWeakPassword)
	}
	return nil
}

// Hash returns the PHC string of password:
// $argon2id$v=19$m=65536,t=3,p=2$salt$hash.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(password), nil
}

func (h *Hasher) hash(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.p.MemoryKiB, h.p.Time, h.p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Verify reports whether password matches encoded, which may be an argon2id
// PHC string, a bcrypt hash ($2a$/$2b$/$2y$), or Dovecot's {BLF-CRYPT} or
// {ARGON2ID} prefixed forms. An empty encoded hash (unknown user) is checked
// against a dummy hash so that it takes the same time, and never matches.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if encoded == "" {
		verifyArgon(h.dummy, password) //nolint:errcheck // timing only
		return false, nil
	}
	for _, prefix := range []string{"{BLF-CRYPT}", "{ARGON2ID}"} {
		encoded = strings.TrimPrefix(encoded, prefix)
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return verifyArgon(encoded, password)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	return false, errors.New("auth: unknown password hash scheme")
}

// NeedsRehash reports whether encoded uses another scheme or weaker
// parameters than h, so that a successful login may upgrade it.
func (h *Hasher) NeedsRehash(encoded string) bool {
	want := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, h.p.MemoryKiB, h.p.Time, h.p.Threads)
	return !strings.HasPrefix(encoded, want)
}

func verifyArgon(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 {
		return false, errors.New("auth: malformed argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("auth: unsupported argon2 version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("auth: malformed argon2id parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("auth: malformed salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errors.New("auth: malformed argon2id key")
	}
	if m > 4*1024*1024 || t > 64 || p == 0 {
		return false, errors.New("auth: argon2id parameters out of range")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

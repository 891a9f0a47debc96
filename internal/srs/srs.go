// Package srs rewrites envelope senders of forwarded mail with the Sender
// Rewriting Scheme, so that the receiver's SPF check sees our domain, and
// turns bounces to rewritten addresses back into the original sender.
//
// The format is libsrs2's, which postsrsd and most MTAs use:
//
//	SRS0=HHHH=TT=orig-domain=orig-local@our-domain
//	SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@our-domain
//
// HHHH is the start of the base64 HMAC-SHA1 (key: the secret) of the other
// fields, lower-cased; TT is the day number modulo 1024 in base32. A
// rewritten address is accepted back for MaxAge.
package srs

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
)

// DefaultMaxAge is how long a rewritten address is valid (libsrs2's 21 days).
const DefaultMaxAge = 21 * 24 * time.Hour

const (
	hashLen    = 4
	stampChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	day        = 24 * time.Hour
)

// Errors of Reverse.
var (
	ErrNotSRS  = errors.New("srs: not a rewritten address")
	ErrBadHash = errors.New("srs: hash does not match")
	ErrExpired = errors.New("srs: address expired")
)

// SRS rewrites and reverses addresses with one secret.
type SRS struct {
	Secret []byte
	Clock  clock.Clock
	MaxAge time.Duration // 0: DefaultMaxAge
}

// LoadKey reads the secret from path, creating a random one (0600) when
// the file does not exist.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(strings.TrimSpace(string(b))) < 16 {
			return nil, fmt.Errorf("srs: key %s is too short", path)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("srs: %w", err)
	}
	var k [32]byte
	rand.Read(k[:])
	key := base64.RawStdEncoding.EncodeToString(k[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	return []byte(key), nil
}

func (s *SRS) hash(parts ...string) string {
	m := hmac.New(sha1.New, s.Secret)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLen]
}

func (s *SRS) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

func (s *SRS) stamp() string {
	d := s.now().Unix() / int64(day/time.Second)
	return string([]byte{stampChars[(d>>5)&31], stampChars[d&31]})
}

// Forward rewrites sender for mail forwarded by ourDomain. The null sender
// and addresses already in ourDomain stay as they are.
func (s *SRS) Forward(sender, ourDomain string) (string, error) {
	at := strings.LastIndexByte(sender, '@')
	if sender == "" || at < 0 {
		return sender, nil
	}
	local, domain := sender[:at], sender[at+1:]
	if strings.EqualFold(domain, ourDomain) {
		return sender, nil
	}
	var out string
	switch {
	case hasTag(local, "SRS1"):
		// Keep the first forwarder and its opaque part; rehash.
		rest := local[5:]
		parts := strings.SplitN(rest, "=", 3) // hash, host, opaque
		if len(parts) != 3 {
			return "", fmt.Errorf("srs: malformed %q", sender)
		}
		out = "SRS1=" + s.hash(parts[1], parts[2]) + "=" + parts[1] + "=" + parts[2]
	case hasTag(local, "SRS0"):
		// Another forwarder rewrote it: refer to that one (SRS1).
		opaque := local[4:] // "=HHHH=TT=..."
		out = "SRS1=" + s.hash(domain, opaque) + "=" + domain + "=" + opaque
	default:
		st := s.stamp()
		out = "SRS0=" + s.hash(st, domain, local) + "=" + st + "=" + domain + "=" + local
	}
	// RFC 5321 4.5.3.1.1 limits local parts to 64 octets; like postsrsd
	// we rely on servers accepting longer ones, as they do.
	return out + "@" + ourDomain, nil
}

func hasTag(local, tag string) bool {
	return len(local) > len(tag) && strings.EqualFold(local[:len(tag)], tag) && strings.ContainsRune("=-+", rune(local[len(tag)]))
}

// IsSRS reports whether a local part looks rewritten.
func IsSRS(local string) bool { return hasTag(local, "SRS0") || hasTag(local, "SRS1") }

// Reverse returns the address a rewritten local part stands for: the
// original sender for SRS0, the first forwarder's SRS0 address for SRS1.
func (s *SRS) Reverse(local string) (string, error) {
	switch {
	case hasTag(local, "SRS0"):
		parts := strings.SplitN(local[5:], "=", 4) // hash, stamp, domain, local
		if len(parts) != 4 || parts[2] == "" || parts[3] == "" {
			return "", ErrNotSRS
		}
		if !hmac.Equal([]byte(strings.ToLower(s.hash(parts[1], parts[2], parts[3]))), []byte(strings.ToLower(parts[0]))) {
			return "", ErrBadHash
		}
		if err := s.checkStamp(parts[1]); err != nil {
			return "", err
		}
		return parts[3] + "@" + parts[2], nil
	case hasTag(local, "SRS1"):
		parts := strings.SplitN(local[5:], "=", 3) // hash, host, opaque
		if len(parts) != 3 || parts[1] == "" {
			return "", ErrNotSRS
		}
		if !hmac.Equal([]byte(strings.ToLower(s.hash(parts[1], parts[2]))), []byte(strings.ToLower(parts[0]))) {
			return "", ErrBadHash
		}
		return "SRS0" + parts[2] + "@" + parts[1], nil
	}
	return "", ErrNotSRS
}

// checkStamp accepts a day stamp no older than MaxAge (and not from the future).
func (s *SRS) checkStamp(st string) error {
	st = strings.ToUpper(st)
	if len(st) != 2 {
		return ErrNotSRS
	}
	hi, lo := strings.IndexByte(stampChars, st[0]), strings.IndexByte(stampChars, st[1])
	if hi < 0 || lo < 0 {
		return ErrNotSRS
	}
	then := int64(hi<<5 | lo)
	today := s.now().Unix() / int64(day/time.Second) % 1024
	age := (today - then + 1024) % 1024
	maxAge := s.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if time.Duration(age)*day > maxAge {
		return ErrExpired
	}
	return nil
}

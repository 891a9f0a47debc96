package srs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
)

func newSRS(t *testing.T) (*SRS, *clock.Fake) {
	c := clock.NewFake(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	return &SRS{Secret: []byte("a test secret of some length"), Clock: c}, c
}

func TestRoundTrip(t *testing.T) {
	s, c := newSRS(t)
	tests := []struct{ sender, want string }{
		{"alice@example.org", "SRS0="},
		{"Alice.Smith+tag@Example.ORG", "SRS0="},
		{"odd=local@example.org", "SRS0="},
	}
	for _, tt := range tests {
		fwd, err := s.Forward(tt.sender, "fwd.test")
		if err != nil || !strings.HasPrefix(fwd, tt.want) || !strings.HasSuffix(fwd, "@fwd.test") {
			t.Fatalf("Forward(%q) = %q, %v", tt.sender, fwd, err)
		}
		local := fwd[:strings.LastIndexByte(fwd, '@')]
		for _, l := range []string{local, strings.ToLower(local)} { // some servers fold case
			back, err := s.Reverse(l)
			if err != nil || !strings.EqualFold(back, tt.sender) {
				t.Fatalf("Reverse(%q) = %q, %v; want %q", l, back, err, tt.sender)
			}
		}
	}
	fwd, _ := s.Forward("bob@example.org", "fwd.test")
	local := fwd[:strings.LastIndexByte(fwd, '@')]
	c.Advance(20 * 24 * time.Hour)
	if _, err := s.Reverse(local); err != nil {
		t.Fatalf("after 20 days: %v", err)
	}
	c.Advance(2 * 24 * time.Hour)
	if _, err := s.Reverse(local); !errors.Is(err, ErrExpired) {
		t.Fatalf("after 22 days: %v, want ErrExpired", err)
	}
}

func TestRejects(t *testing.T) {
	s, _ := newSRS(t)
	fwd, _ := s.Forward("alice@example.org", "fwd.test")
	local := fwd[:strings.LastIndexByte(fwd, '@')]
	other := &SRS{Secret: []byte("another secret, another server"), Clock: s.Clock}
	tampered := strings.Replace(local, "=alice", "=mallory", 1)
	for _, tt := range []struct {
		s     *SRS
		local string
		want  error
	}{
		{other, local, ErrBadHash},
		{s, tampered, ErrBadHash},
		{s, "alice", ErrNotSRS},
		{s, "SRS0=abcd", ErrNotSRS},
		{s, "SRS0=abcd=ZZ==x", ErrNotSRS},
		{s, "SRS1=abcd", ErrNotSRS},
	} {
		if _, err := tt.s.Reverse(tt.local); !errors.Is(err, tt.want) {
			t.Errorf("Reverse(%q) = %v, want %v", tt.local, err, tt.want)
		}
	}
}

// A second forwarder turns SRS0 into SRS1 pointing at the first; its
// reversal gives back the first forwarder's SRS0 address, which the first
// forwarder reverses to the sender.
func TestSRS1Chain(t *testing.T) {
	first, c := newSRS(t)
	second := &SRS{Secret: []byte("the second forwarder's secret"), Clock: c}
	a, _ := first.Forward("alice@example.org", "one.test")
	b, err := second.Forward(a, "two.test")
	if err != nil || !strings.HasPrefix(b, "SRS1=") || !strings.Contains(b, "=one.test==") {
		t.Fatalf("second forward = %q, %v", b, err)
	}
	// A third forwarder keeps pointing at the first one.
	third := &SRS{Secret: []byte("the third forwarder's secret!"), Clock: c}
	cc, err := third.Forward(b, "three.test")
	if err != nil || !strings.Contains(cc, "=one.test==") {
		t.Fatalf("third forward = %q, %v", cc, err)
	}
	back, err := second.Reverse(b[:strings.LastIndexByte(b, '@')])
	if err != nil || back != a {
		t.Fatalf("SRS1 reverse = %q, %v; want %q", back, err, a)
	}
	orig, err := first.Reverse(back[:strings.LastIndexByte(back, '@')])
	if err != nil || orig != "alice@example.org" {
		t.Fatalf("SRS0 reverse = %q, %v", orig, err)
	}
}

func TestUnchanged(t *testing.T) {
	s, _ := newSRS(t)
	for _, in := range []string{"", "me@fwd.test", "ME@FWD.TEST"} {
		if out, err := s.Forward(in, "fwd.test"); err != nil || out != in {
			t.Errorf("Forward(%q) = %q, %v", in, out, err)
		}
	}
}

func TestLoadKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "srs.key")
	k1, err := LoadKey(p)
	if err != nil || len(k1) < 32 {
		t.Fatalf("LoadKey = %q, %v", k1, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	k2, err := LoadKey(p)
	if err != nil || string(k2) != string(k1) {
		t.Fatalf("second load = %q, %v", k2, err)
	}
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := LoadKey(p); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzReverse(f *testing.F) {
	s := &SRS{Secret: []byte("fuzz secret, fuzz secret")}
	fwd, _ := s.Forward("a@b.example", "c.example")
	f.Add(fwd[:strings.LastIndexByte(fwd, '@')])
	f.Add("SRS1=abcd=host==xyz=AA=d=l")
	f.Fuzz(func(t *testing.T, local string) {
		s.Reverse(local)
		s.Forward(local+"@x.example", "c.example")
	})
}

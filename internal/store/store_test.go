package store

import (
	"errors"
	"testing"
)

func TestValidMailboxName(t *testing.T) {
	t.Parallel()
	good := []string{"INBOX", "Work/2026", "Réunions", "日本語", "a b", "Archive/x.y"}
	bad := []string{"", "/x", "x/", "a//b", ".", "..", "../../tmp/pwn", "INBOX/../../x", "a/./b", "#news",
		"a\x00b", "a\nb", "a*b", "50%", "back\\slash", "e\u0301" /* not NFC */, "a/ ../b"}
	for _, n := range good {
		if err := ValidMailboxName(n); err != nil {
			t.Errorf("ValidMailboxName(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidMailboxName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidMailboxName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"inbox": "INBOX", "Inbox/Sub": "INBOX/Sub", "Inboxes": "Inboxes", "Sent": "Sent"} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBrokerOverflow(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	s := b.Subscribe()
	defer s.Close()
	for i := range 1000 {
		b.Publish(Change{Kind: MessagesChanged, MailboxID: int64(i)})
	}
	var sawResync bool
	for len(s.C) > 0 {
		if c := <-s.C; c.Kind == Resync {
			sawResync = true
		}
	}
	if !sawResync {
		t.Fatal("a subscriber that fell behind must get a Resync")
	}
	s.Close()
	b.Publish(Change{}) // no panic, no delivery after Close
	if len(s.C) != 0 {
		t.Fatal("delivered after Close")
	}
}

func TestUIDSet(t *testing.T) {
	t.Parallel()
	s := UIDSet{{5, 7}, {1, 2}}
	if !s.Contains(6) || s.Contains(3) || !s.Contains(1) {
		t.Fatal("Contains")
	}
	if lo, hi := s.Bounds(); lo != 1 || hi != 7 {
		t.Fatalf("Bounds = %d, %d", lo, hi)
	}
}

// A subscription's hook sees every change before Publish returns, even
// when its channel is full.
func TestBrokerHook(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	s := b.Subscribe()
	defer s.Close()
	var seen []int64
	s.SetHook(func(c Change) { seen = append(seen, c.MailboxID) })
	for i := range 300 {
		b.Publish(Change{Kind: MessagesChanged, MailboxID: int64(i)})
		if len(seen) != i+1 || seen[i] != int64(i) {
			t.Fatalf("after Publish %d the hook saw %d changes", i, len(seen))
		}
	}
}

package store

import (
	"sync"
)

// ChangeKind says what a Change is about.
type ChangeKind int

const (
	// MessagesChanged: messages were added, removed or re-flagged in
	// MailboxID; Store.Changes(MailboxID, since) tells what.
	MessagesChanged ChangeKind = iota
	// MailboxesChanged: the account's mailbox list changed.
	MailboxesChanged
	// Resync: changes may have been missed (a slow subscriber, another
	// process or node); every interested party should re-check its state.
	Resync
)

// Change is a notification that something changed after a commit. It carries
// no data beyond where to look: subscribers ask the store what changed since
// the MODSEQ they know, so a lost or duplicated notification is harmless.
type Change struct {
	Kind      ChangeKind
	AccountID int64
	MailboxID int64
	ModSeq    uint64
}

// Changes lets sessions follow changes made by anyone.
type Changes interface {
	// Subscribe returns a subscription to every change; call Close when done.
	Subscribe() *Subscription
}

// Broker fans changes out to subscribers within one process. The SQL store
// publishes to it after each commit (and, in cluster mode, when another
// node's notification arrives).
type Broker struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{subs: map[*Subscription]struct{}{}} }

// Subscription receives changes on C. A subscriber that falls behind gets a
// single Resync change instead of the ones it missed.
type Subscription struct {
	C      <-chan Change
	c      chan Change
	broker *Broker
	once   sync.Once
	hook   func(Change) // guarded by broker.mu
}

// SetHook makes Publish call f with every change it publishes, before
// Publish returns (so before the writer's caller learns its change is
// committed). f runs under the broker's lock: it must be quick, must not
// block and must not publish. C still receives the changes.
func (s *Subscription) SetHook(f func(Change)) {
	s.broker.mu.Lock()
	s.hook = f
	s.broker.mu.Unlock()
}

// Subscribe adds a subscriber.
func (b *Broker) Subscribe() *Subscription {
	c := make(chan Change, 256)
	s := &Subscription{C: c, c: c, broker: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close removes the subscription. C is not closed.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.broker.mu.Lock()
		delete(s.broker.subs, s)
		s.broker.mu.Unlock()
	})
}

// Publish sends c to every subscriber without blocking.
func (b *Broker) Publish(c Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.hook != nil {
			s.hook(c)
		}
		select {
		case s.c <- c:
		default:
			// Full: drop everything queued and leave one Resync, so the
			// subscriber re-checks its state instead of missing changes.
			for len(s.c) > 0 {
				select {
				case <-s.c:
				default:
				}
			}
			select {
			case s.c <- Change{Kind: Resync}:
			default:
			}
		}
	}
}

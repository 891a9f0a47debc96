package crash

import (
	"sync"
)

// ledger is what clients were told: it lives in the test process, which is
// never killed, and records a message only after its positive reply.
type ledger struct {
	mu sync.Mutex
	// acked maps seq to where the message must be: an account ("mx1",
	// "ap", "pop") or "sink" (submitted for a remote recipient).
	acked map[string]string
	// appendUID maps UIDs of "ap"'s INBOX from APPENDUID to seqs.
	appendUID map[uint32]string
	// pop3 state: UIDLs deleted in a session killed before QUIT was sent
	// (they must still be there), UIDLs deleted by an acknowledged QUIT
	// (they must never come back), and seqs POP3 has seen.
	popMustExist map[string]bool
	popGone      map[string]bool
	popSeen      map[string]bool
	// sink: seqs the remote sink received whole, with counts.
	sink map[string]int
	// bad lists messages that were not whole copies.
	bad []string
	// popMail is closed (and replaced) when a message for "pop" is acked.
	popMail chan struct{}
}

func newLedger() *ledger {
	return &ledger{acked: map[string]string{}, appendUID: map[uint32]string{}, popMustExist: map[string]bool{},
		popGone: map[string]bool{}, popSeen: map[string]bool{}, sink: map[string]int{}, popMail: make(chan struct{})}
}

func (l *ledger) ack(seq, where string) {
	l.mu.Lock()
	l.acked[seq] = where
	if where == "pop" {
		close(l.popMail)
		l.popMail = make(chan struct{})
	}
	l.mu.Unlock()
}

func (l *ledger) badMessage(s string) {
	l.mu.Lock()
	l.bad = append(l.bad, s)
	l.mu.Unlock()
}

func (l *ledger) count(where string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.acked {
		if w == where {
			n++
		}
	}
	return n
}

// popMailSignal returns a channel closed at the next message for "pop".
func (l *ledger) popMailSignal() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.popMail
}

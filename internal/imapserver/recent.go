package imapserver

import (
	"context"
	"slices"

	"github.com/kantorpos/kantorpos/internal/store"
)

// \Recent (IMAP4rev1, RFC 3501 §2.3.2): a message is recent to exactly one
// session, the first that selects its mailbox after it arrived or the one
// that has the mailbox selected (read-write) when it arrives. Ownership
// lives in the hub: each mailbox has a claim mark, the highest UID some
// session has been given as recent (UIDs ascend, so every message above
// the mark is still unclaimed). The mark is kept in memory only: after a
// restart, or on another cluster node, the first session to select a
// mailbox sees all its messages as recent again, which RFC 3501 §2.3.2
// allows ("if it is not possible to determine whether or not this session
// is the first session to be notified about a message, then that message
// SHOULD be considered recent"). EXAMINE shows unclaimed messages as
// recent without claiming them (RFC 3501 §6.3.2).

// maxRecentMarks bounds the claim marks kept for mailboxes nobody has
// selected; past it the marks are forgotten (their messages become
// recent once more, as after a restart).
const maxRecentMarks = 1 << 16

// recentMarkLocked returns the claim mark of a mailbox; hub.mu must be held.
func (h *hub) recentMarkLocked(id int64) uint32 {
	if b := h.boxes[id]; b != nil {
		b.mu.RLock()
		defer b.mu.RUnlock()
		return b.recentUpTo
	}
	return h.recent[id]
}

// keepRecentMarkLocked remembers the mark of a mailbox no session has open any
// more; hub.mu must be held.
func (h *hub) keepRecentMarkLocked(b *mailboxState) {
	b.mu.RLock()
	mark := b.recentUpTo
	b.mu.RUnlock()
	if mark == 0 {
		delete(h.recent, b.id)
		return
	}
	if _, ok := h.recent[b.id]; !ok && len(h.recent) >= maxRecentMarks {
		clear(h.recent)
	}
	h.recent[b.id] = mark
}

// recentCount is STATUS RECENT: the messages the next session to select
// the mailbox would see as recent.
func (s *session) recentCount(ctx context.Context, mailboxID int64, uidNext uint32) (int, error) {
	h := s.srv.hub
	h.mu.Lock()
	mark := h.recentMarkLocked(mailboxID)
	h.mu.Unlock()
	if uidNext == 0 || mark+1 > uidNext-1 {
		return 0, nil
	}
	uids, err := s.srv.backend.Search(ctx, mailboxID, &store.SearchCriteria{UIDs: store.UIDSet{{Start: mark + 1, Stop: uidNext - 1}}})
	return len(uids), err
}

// claimAtSelect gives a new view the unclaimed messages as recent; a
// read-write view claims them. b.mu must be held.
func (b *mailboxState) claimAtSelect(v *view) {
	v.recent = map[uint32]struct{}{}
	i, _ := slices.BinarySearch(b.uids, b.recentUpTo+1)
	for _, uid := range b.uids[i:] {
		v.recent[uid] = struct{}{}
	}
	if v.claims && len(b.uids) > 0 {
		b.recentUpTo = max(b.recentUpTo, b.uids[len(b.uids)-1])
	}
}

// queueArrival queues the EXISTS update of a new message: it is recent to
// one read-write view if there is one (which claims it), else to every
// read-only view (unclaimed). b.mu must be held.
func (b *mailboxState) queueArrival(uid uint32) {
	var claimer *view
	if uid > b.recentUpTo {
		for v := range b.views {
			if v.claims {
				claimer = v
				break
			}
		}
	}
	if claimer != nil {
		b.recentUpTo = uid
	}
	unclaimed := uid > b.recentUpTo
	for v := range b.views {
		u := update{kind: updExists, uid: uid, recent: v == claimer || (unclaimed && !v.claims)}
		v.pending = append(v.pending, u)
		select {
		case v.notify <- struct{}{}:
		default:
		}
	}
}

// withRecent adds \Recent to a message's flags for a client that knows it
// (IMAP4rev1); box.mu must be held.
func (v *view) withRecent(uid uint32, flags []string) []string {
	if !v.sendRecent {
		return flags
	}
	if _, ok := v.recent[uid]; !ok {
		return flags
	}
	return append(slices.Clip(flags), `\Recent`)
}

// flagsOf is withRecent for callers that do not hold box.mu.
func (v *view) flagsOf(uid uint32, flags []string) []string {
	v.box.mu.RLock()
	defer v.box.mu.RUnlock()
	return v.withRecent(uid, flags)
}

// recentUIDs lists the messages recent to this session, ascending.
func (v *view) recentUIDs() []uint32 {
	v.box.mu.RLock()
	defer v.box.mu.RUnlock()
	out := make([]uint32, 0, len(v.recent))
	for uid := range v.recent {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out
}

// noRecent stops telling of \Recent (IMAP4rev2 enabled while selected:
// RFC 9051 has no \Recent).
func (s *session) noRecent() {
	if s.sel == nil {
		return
	}
	v := s.sel.view
	v.box.mu.Lock()
	v.sendRecent = false
	v.box.mu.Unlock()
}

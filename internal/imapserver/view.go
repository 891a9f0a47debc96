package imapserver

import (
	"slices"
	"sort"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/store"
)

// view is one session's picture of its selected mailbox: the UIDs its
// client knows, in sequence order (sequence number n is uids[n-1]), and the
// updates not yet sent. Sequence numbers from the client are resolved
// against uids, so they mean what the client was told, whatever other
// sessions did since (RFC 9051 §7.5.1).
type view struct {
	box    *mailboxState
	notify chan struct{} // poked when pending grows (IDLE)
	// claims: selected read-write, so it claims \Recent (recent.go).
	claims bool
	// Guarded by box.mu:
	sendRecent bool // an IMAP4rev1 client, told of \Recent
	uids       []uint32
	pending    []update
	recent     map[uint32]struct{} // UIDs recent to this session, all in uids
}

type updateKind uint8

const (
	updExpunge updateKind = iota
	updExists
	updFlags
	updMailboxFlags
)

// update is a change the client has not been told of.
type update struct {
	kind   updateKind
	uid    uint32
	flags  []string
	recent bool // updExists: the message is recent to this view
}

// newView registers a view on b with the mailbox as it is now; a
// read-write view (claims) takes the unclaimed messages as its recent ones.
func newView(b *mailboxState, claims, sendRecent bool) *view {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := &view{box: b, notify: make(chan struct{}, 1), uids: slices.Clone(b.uids), claims: claims, sendRecent: sendRecent}
	b.claimAtSelect(v)
	b.views[v] = struct{}{}
	return v
}

// close unregisters the view.
func (v *view) close() {
	v.box.mu.Lock()
	delete(v.box.views, v)
	v.box.mu.Unlock()
}

// seqOf returns the sequence number of uid in the client's view, 0 if the
// client does not know it; box.mu must be held.
func (v *view) seqOf(uid uint32) uint32 {
	if i, ok := slices.BinarySearch(v.uids, uid); ok {
		return uint32(i + 1)
	}
	return 0
}

// flush writes the pending updates (RFC 9051 §7.5: EXISTS, EXPUNGE, FETCH
// FLAGS, FLAGS). Without allowExpunge (during FETCH, STORE and SEARCH by
// sequence numbers, RFC 9051 §7.5.1) EXPUNGEs stay pending, and so the
// expunged messages keep their sequence numbers.
func (v *view) flush(w *imapwire.Writer, allowExpunge bool) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(v.pending) == 0 {
		return
	}
	var kept []update
	announced := len(v.uids)
	exists := func() {
		if len(v.uids) != announced {
			w.Raw("* ").Number(uint64(len(v.uids))).Raw(" EXISTS\r\n")
			if v.sendRecent {
				// RFC 3501 §7.3.2: the number of recent messages changed too.
				w.Raw("* ").Number(uint64(len(v.recent))).Raw(" RECENT\r\n")
			}
			announced = len(v.uids)
		}
	}
	for _, u := range v.pending {
		switch u.kind {
		case updExpunge:
			if !allowExpunge {
				kept = append(kept, u)
				continue
			}
			seq := v.seqOf(u.uid)
			if seq == 0 {
				continue
			}
			exists()
			w.Raw("* ").Number(uint64(seq)).Raw(" EXPUNGE\r\n")
			v.uids = slices.Delete(v.uids, int(seq-1), int(seq))
			delete(v.recent, u.uid)
			announced--
		case updExists:
			if n := len(v.uids); n == 0 || u.uid > v.uids[n-1] {
				v.uids = append(v.uids, u.uid)
				if u.recent {
					v.recent[u.uid] = struct{}{}
				}
			}
		case updFlags:
			seq := v.seqOf(u.uid)
			if seq == 0 {
				continue
			}
			if int(seq) > announced {
				exists()
			}
			w.Raw("* ").Number(uint64(seq)).Raw(" FETCH (UID ").Number(uint64(u.uid)).Raw(" FLAGS ")
			writeFlags(w, v.withRecent(u.uid, u.flags))
			w.Raw(")\r\n")
		case updMailboxFlags:
			writeMailboxFlags(w, b.flagsLocked(), false)
		}
	}
	exists()
	v.pending = kept
}

// hasPending reports whether updates wait to be sent.
func (v *view) hasPending() bool {
	v.box.mu.RLock()
	defer v.box.mu.RUnlock()
	return len(v.pending) > 0
}

// writeFlags writes a parenthesised flag list.
func writeFlags(w *imapwire.Writer, flags []string) {
	w.Byte('(')
	for i, f := range flags {
		if i > 0 {
			w.SP()
		}
		w.Raw(f)
	}
	w.Byte(')')
}

// writeMailboxFlags writes FLAGS and, unless read-only, PERMANENTFLAGS.
func writeMailboxFlags(w *imapwire.Writer, flags []string, readOnly bool) {
	w.Raw("* FLAGS ")
	writeFlags(w, flags)
	w.CRLF()
	if readOnly {
		w.Raw("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n")
		return
	}
	w.Raw("* OK [PERMANENTFLAGS ")
	writeFlags(w, append(slices.Clone(flags), `\*`))
	w.Raw("] Flags permitted\r\n")
}

// msgRef is a message as the client addresses it.
type msgRef struct {
	seq uint32 // in the client's view
	uid uint32
}

// resolve turns a sequence or UID set from the client into the messages
// of its view it names, in ascending order. "*" is the last message
// (RFC 9051 §6.4.8: "n:*" with n beyond it names the last message).
func (s *session) resolve(set imapwire.SeqSet, byUID bool) []msgRef {
	sel := s.sel
	v := sel.view
	v.box.mu.RLock()
	defer v.box.mu.RUnlock()
	var out []msgRef
	if set.Saved {
		for _, uid := range sel.searchRes {
			if seq := v.seqOf(uid); seq != 0 {
				out = append(out, msgRef{seq, uid})
			}
		}
		return out
	}
	n := uint32(len(v.uids))
	if n == 0 {
		return nil
	}
	if !byUID {
		for _, r := range set.Ranges {
			lo, hi := bounds(r.Start, r.Stop, n)
			for c := lo; c <= hi && c != 0; c++ {
				out = append(out, msgRef{c, v.uids[c-1]})
			}
			if len(out) > 10*len(v.uids)+1000 {
				break // overlapping ranges: compacted below
			}
		}
	} else {
		last := v.uids[n-1]
		for _, r := range set.Ranges {
			lo, hi := bounds(r.Start, r.Stop, last)
			i := sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= lo })
			for ; i < len(v.uids) && v.uids[i] <= hi; i++ {
				out = append(out, msgRef{uint32(i + 1), v.uids[i]})
			}
		}
	}
	if len(out) > 1 {
		sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
		out = slices.CompactFunc(out, func(a, b msgRef) bool { return a.seq == b.seq })
	}
	return out
}

// bounds makes a range static: 0 is "*" (last), and the ends may come in
// either order.
func bounds(start, stop, last uint32) (lo, hi uint32) {
	if start == 0 {
		start = last
	}
	if stop == 0 {
		stop = last
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, min(stop, last)
}

// uidSetOf compresses ascending UIDs into ranges.
func uidSetOf(uids []uint32) store.UIDSet {
	set := store.UIDSet{}
	for _, u := range uids {
		if n := len(set); n > 0 && set[n-1].Stop+1 == u {
			set[n-1].Stop = u
			continue
		}
		set = append(set, store.UIDRange{Start: u, Stop: u})
	}
	return set
}

func refUIDs(refs []msgRef) []uint32 {
	out := make([]uint32, len(refs))
	for i, r := range refs {
		out[i] = r.uid
	}
	return out
}

package imapserver

import (
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kantorpos/kantorpos/internal/store"
)

// selected is the state of a session with a mailbox selected: the shared
// view and this session's tracker of what its client has been told.
type selected struct {
	mb        store.Mailbox
	box       *mailboxState
	tracker   *imapserver.SessionTracker
	readOnly  bool
	searchRes []uint32 // SEARCHRES (RFC 5182): UIDs saved by SEARCH RETURN (SAVE)
}

// Select implements imapserver.Session (SELECT and EXAMINE).
func (s *session) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	defer s.enter()()
	name, err := mailboxName(name)
	if err != nil {
		return nil, err
	}
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if err != nil {
		return nil, s.storeErr("select", err)
	}
	box, err := s.srv.hub.open(s.ctx, mb.ID)
	if err != nil {
		return nil, s.storeErr("select", err)
	}
	if err := box.sync(s.ctx, nil); err != nil {
		s.srv.hub.release(box)
		return nil, s.storeErr("select", err)
	}
	// IMAP4rev2 requires a LIST response for the mailbox (RFC 9051 6.3.2).
	var list *imap.ListData
	if s.conn.EnabledCaps().Has(imap.CapIMAP4rev2) {
		if list, err = s.listData(mb); err != nil {
			s.srv.hub.release(box)
			return nil, err
		}
	}
	// First unseen (obsolete, IMAP4rev1): one indexed query.
	unseen, err := s.srv.backend.Search(s.ctx, mb.ID, &store.SearchCriteria{NotFlags: []string{store.FlagSeen}})
	if err != nil {
		s.srv.hub.release(box)
		return nil, s.storeErr("select", err)
	}

	box.mu.RLock()
	defer box.mu.RUnlock()
	sel := &selected{mb: mb, box: box, tracker: box.tracker.NewSession(), readOnly: opts.ReadOnly}
	s.sel = sel
	data := &imap.SelectData{
		Flags:       box.flagsLocked(),
		NumMessages: uint32(len(box.uids)),
		UIDNext:     imap.UID(box.uidNext),
		UIDValidity: mb.UIDValidity,
		List:        list,
	}
	if !opts.ReadOnly {
		data.PermanentFlags = append(slices.Clone(data.Flags), imap.FlagWildcard)
	}
	if len(unseen) > 0 {
		if idx, ok := box.index(unseen[0]); ok {
			data.FirstUnseenSeqNum = uint32(idx + 1)
		}
	}
	s.log.Debug("select", "mailbox", mb.Name, "messages", data.NumMessages, "readonly", opts.ReadOnly)
	return data, nil
}

// listData is the LIST response of one mailbox.
func (s *session) listData(mb store.Mailbox) (*imap.ListData, error) {
	mbs, err := s.srv.backend.Mailboxes(s.ctx, s.account.AccountID)
	if err != nil {
		return nil, s.storeErr("select", err)
	}
	d := &imap.ListData{Mailbox: mb.Name, Delim: store.HierarchySep, Attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}}
	for _, m := range mbs {
		if strings.HasPrefix(m.Name, mb.Name+sep) {
			d.Attrs[0] = imap.MailboxAttrHasChildren
			break
		}
	}
	if mb.SpecialUse != "" {
		d.Attrs = append(d.Attrs, imap.MailboxAttr(mb.SpecialUse))
	}
	return d, nil
}

// Unselect implements imapserver.Session (UNSELECT and the end of CLOSE).
func (s *session) Unselect() error {
	defer s.enter()()
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel == nil {
		return
	}
	s.sel.box.mu.Lock()
	s.sel.tracker.Close()
	s.sel.box.mu.Unlock()
	s.srv.hub.release(s.sel.box)
	s.sel = nil
}

// Poll implements imapserver.Session: after every command, the updates
// other sessions and deliveries made are brought in and sent.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	if err := s.sel.box.sync(s.ctx, nil); err != nil {
		s.log.Warn("poll: sync", "err", err)
	}
	return s.sel.tracker.Poll(w, allowExpunge)
}

// Idle implements imapserver.Session (RFC 2177): updates are written as
// the mailbox's view receives them.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	s.tc.idling.Store(true)
	defer s.tc.idling.Store(false)
	if s.sel == nil {
		<-stop
		return nil
	}
	if err := s.sel.box.sync(s.ctx, nil); err != nil {
		s.log.Warn("idle: sync", "err", err)
	}
	return s.sel.tracker.Idle(w, stop)
}

// msgRef is a message as the client addresses it.
type msgRef struct {
	seq uint32 // in the client's view
	uid uint32
}

// resolve turns a sequence or UID set from the client into the messages
// it names that the client knows of (it has been told their EXISTS), in
// ascending order. "*" is the last such message (RFC 9051 6.4.8: "n:*"
// with n beyond it names the last message).
func (s *session) resolve(set imap.NumSet) []msgRef {
	sel := s.sel
	box := sel.box
	box.mu.RLock()
	defer box.mu.RUnlock()
	st := sel.tracker
	// The client's last message: messages it has not been told of are at
	// the end of the view.
	var lastSeq, lastUID uint32
	for i := len(box.uids); i >= 1; i-- {
		if c := st.EncodeSeqNum(uint32(i)); c != 0 {
			lastSeq, lastUID = c, box.uids[i-1]
			break
		}
	}
	var out []msgRef
	if imap.IsSearchRes(set) {
		for _, uid := range sel.searchRes {
			if i, ok := box.index(uid); ok {
				if c := st.EncodeSeqNum(uint32(i + 1)); c != 0 {
					out = append(out, msgRef{c, uid})
				}
			}
		}
		return out
	}
	switch set := set.(type) {
	case imap.SeqSet:
		if lastSeq == 0 {
			return nil
		}
		for _, r := range set {
			lo, hi := bounds(r.Start, r.Stop, lastSeq)
			for c := lo; c <= hi && c != 0; c++ {
				i := st.DecodeSeqNum(c)
				if i == 0 || st.EncodeSeqNum(i) != c {
					continue
				}
				out = append(out, msgRef{c, box.uids[i-1]})
			}
		}
	case imap.UIDSet:
		if lastUID == 0 {
			return nil
		}
		for _, r := range set {
			lo, hi := bounds(uint32(r.Start), uint32(r.Stop), lastUID)
			i := sort.Search(len(box.uids), func(i int) bool { return box.uids[i] >= lo })
			for ; i < len(box.uids) && box.uids[i] <= hi; i++ {
				if c := st.EncodeSeqNum(uint32(i + 1)); c != 0 {
					out = append(out, msgRef{c, box.uids[i]})
				}
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

// readOnly is the reply to a change in a mailbox selected with EXAMINE.
var readOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: "READ-ONLY", Text: "Mailbox is read-only"}

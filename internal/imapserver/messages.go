package imapserver

import (
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kantorpos/kantorpos/internal/store"
)

// changeFlags runs a flag change of this session and brings the shared
// view up to date: the other sessions get FETCH FLAGS, this one (which
// tells its client itself, or was asked to be .SILENT) does not, even when
// the change notification makes another sync see it first.
func (s *session) changeFlags(uids []uint32, change func() ([]store.MessageState, error)) ([]store.MessageState, error) {
	box, tr := s.sel.box, s.sel.tracker
	box.mu.Lock()
	for _, u := range uids {
		box.changing[u] = tr
	}
	box.mu.Unlock()
	defer func() {
		box.mu.Lock()
		for _, u := range uids {
			if box.changing[u] == tr {
				delete(box.changing, u)
			}
		}
		box.mu.Unlock()
	}()
	states, err := change()
	if err != nil {
		return nil, err
	}
	o := &own{tracker: tr, flags: make(map[uint32]uint64, len(states))}
	for _, st := range states {
		o.flags[st.UID] = st.ModSeq
	}
	if err := box.sync(s.ctx, o); err != nil {
		s.log.Warn("sync after own change", "err", err)
	}
	return states, nil
}

// Store implements imapserver.Session: STORE FLAGS, +FLAGS, -FLAGS and
// their .SILENT forms, for system flags and keywords.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	defer s.enter()()
	if s.sel.readOnly {
		return readOnly
	}
	var names []string
	for _, f := range flags.Flags {
		if strings.EqualFold(string(f), `\Recent`) {
			continue // cannot be stored (RFC 3501 2.3.2)
		}
		names = append(names, canonicalFlag(string(f)))
	}
	op := store.FlagsSet
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	}
	refs := s.resolve(numSet)
	if len(refs) == 0 {
		return nil
	}
	mbID := s.sel.mb.ID
	set := uidSetOf(refUIDs(refs))
	if _, err := s.changeFlags(refUIDs(refs), func() ([]store.MessageState, error) {
		return s.srv.backend.UpdateFlags(s.ctx, mbID, set, op, names)
	}); err != nil {
		return s.storeErr("store", err)
	}
	if flags.Silent {
		return nil
	}
	// Report the flags of every message named, changed or not.
	current := make(map[uint32][]string, len(refs))
	for start := 0; start < len(refs); start += s.srv.cfg.FetchBatch {
		part := refs[start:min(start+s.srv.cfg.FetchBatch, len(refs))]
		msgs, err := s.srv.backend.FetchMessages(s.ctx, mbID, uidSetOf(refUIDs(part)), store.FetchOptions{})
		if err != nil {
			return s.storeErr("store", err)
		}
		for _, m := range msgs {
			current[m.UID] = m.Flags
		}
	}
	_, byUID := numSet.(imap.UIDSet)
	for _, r := range refs {
		fl, ok := current[r.uid]
		if !ok {
			continue
		}
		rw := w.CreateMessage(r.seq)
		if byUID {
			rw.WriteUID(imap.UID(r.uid))
		}
		rw.WriteFlags(toIMAPFlags(fl))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// canonicalFlag spells system flags the standard way; keywords keep theirs.
func canonicalFlag(f string) string {
	for _, sf := range []string{store.FlagSeen, store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagDraft} {
		if strings.EqualFold(f, sf) {
			return sf
		}
	}
	return f
}

// destination finds the target of COPY, MOVE or APPEND; a missing one gets
// NO [TRYCREATE] (RFC 9051 6.4.7).
func (s *session) destination(name string) (store.Mailbox, error) {
	name, err := mailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if errors.Is(err, store.ErrNotFound) {
		return mb, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if err != nil {
		return mb, s.storeErr("mailbox", err)
	}
	return mb, nil
}

// Copy implements imapserver.Session with COPYUID (RFC 4315).
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	defer s.enter()()
	dst, err := s.destination(dest)
	if err != nil {
		return nil, err
	}
	refs := s.resolve(numSet)
	if len(refs) == 0 {
		return nil, nil
	}
	pairs, err := s.srv.backend.Copy(s.ctx, s.sel.mb.ID, uidSetOf(refUIDs(refs)), dst.ID)
	if err != nil {
		return nil, s.storeErr("copy", err)
	}
	if dst.ID == s.sel.mb.ID {
		if err := s.sel.box.sync(s.ctx, nil); err != nil {
			s.log.Warn("sync after copy", "err", err)
		}
	}
	return copyData(dst, pairs), nil
}

func copyData(dst store.Mailbox, pairs []store.UIDPair) *imap.CopyData {
	if len(pairs) == 0 {
		return nil
	}
	d := &imap.CopyData{UIDValidity: dst.UIDValidity}
	for _, p := range pairs {
		d.SourceUIDs.AddNum(imap.UID(p.Src))
		d.DestUIDs.AddNum(imap.UID(p.Dst))
	}
	return d
}

// Move implements imapserver.SessionMove (RFC 6851): COPYUID first, then
// the EXPUNGEs, which the wire library writes from our tracker right after.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	defer s.enter()()
	if s.sel.readOnly {
		return readOnly
	}
	dst, err := s.destination(dest)
	if err != nil {
		return err
	}
	if dst.ID == s.sel.mb.ID {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Source and destination are the same mailbox"}
	}
	refs := s.resolve(numSet)
	if len(refs) == 0 {
		return nil
	}
	pairs, err := s.srv.backend.Move(s.ctx, s.sel.mb.ID, uidSetOf(refUIDs(refs)), dst.ID)
	if err != nil {
		return s.storeErr("move", err)
	}
	if err := s.sel.box.sync(s.ctx, nil); err != nil {
		s.log.Warn("sync after move", "err", err)
	}
	if d := copyData(dst, pairs); d != nil {
		return w.WriteCopyData(d)
	}
	return nil
}

// Expunge implements imapserver.Session: EXPUNGE, UID EXPUNGE (RFC 4315)
// and the silent expunge of CLOSE. The EXPUNGE responses reach the client
// through its tracker at the end of the command. In a mailbox opened with
// EXAMINE nothing is removed.
func (s *session) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	defer s.enter()()
	if s.sel.readOnly {
		return nil
	}
	var set store.UIDSet
	if uids != nil {
		set = uidSetOf(refUIDs(s.resolve(*uids)))
	}
	if _, err := s.srv.backend.Expunge(s.ctx, s.sel.mb.ID, set); err != nil {
		return s.storeErr("expunge", err)
	}
	if err := s.sel.box.sync(s.ctx, nil); err != nil {
		s.log.Warn("sync after expunge", "err", err)
	}
	return nil
}

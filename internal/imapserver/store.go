package imapserver

import (
	"strings"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/store"
)

// changeFlags runs a flag change of this session and brings the shared
// view up to date: the other sessions get FETCH FLAGS, this one (which
// tells its client itself, or was asked to be .SILENT) does not, even when
// the change notification makes another sync see it first.
func (s *session) changeFlags(uids []uint32, change func() ([]store.MessageState, error)) ([]store.MessageState, error) {
	v := s.sel.view
	box := v.box
	box.mu.Lock()
	for _, u := range uids {
		box.changing[u] = v
	}
	box.mu.Unlock()
	defer func() {
		box.mu.Lock()
		for _, u := range uids {
			if box.changing[u] == v {
				delete(box.changing, u)
			}
		}
		box.mu.Unlock()
	}()
	states, err := change()
	if err != nil {
		return nil, err
	}
	o := &own{view: v, flags: make(map[uint32]uint64, len(states))}
	for _, st := range states {
		o.flags[st.UID] = st.ModSeq
	}
	if err := box.sync(s.ctx, o); err != nil {
		s.log.Warn("sync after own change", "err", err)
	}
	return states, nil
}

func cmdStore(s *session, _ string) error    { return s.store(false) }
func cmdUIDStore(s *session, _ string) error { return s.store(true) }

// store runs STORE: FLAGS, +FLAGS, -FLAGS and their .SILENT forms, for
// system flags and keywords (RFC 9051 §6.4.6).
func (s *session) store(byUID bool) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	set, err := s.r.SeqSet()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	item, err := s.r.Atom()
	if err != nil {
		return err
	}
	item = strings.ToUpper(item)
	silent := strings.HasSuffix(item, ".SILENT")
	item = strings.TrimSuffix(item, ".SILENT")
	var op store.FlagOp
	switch item {
	case "FLAGS":
		op = store.FlagsSet
	case "+FLAGS":
		op = store.FlagsAdd
	case "-FLAGS":
		op = store.FlagsRemove
	default:
		return bad("Unknown STORE item")
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	flags, err := s.r.Flags(false)
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return readOnly
	}
	var names []string
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) || f == `\*` {
			continue // cannot be stored (RFC 3501 §2.3.2)
		}
		names = append(names, canonicalFlag(f))
	}
	s.announceKeywords()
	refs := s.resolve(set, byUID)
	if len(refs) == 0 {
		return nil
	}
	mbID := s.sel.mb.ID
	uidSet := uidSetOf(refUIDs(refs))
	if _, err := s.changeFlags(refUIDs(refs), func() ([]store.MessageState, error) {
		return s.srv.backend.UpdateFlags(s.ctx, mbID, uidSet, op, names)
	}); err != nil {
		return s.storeErr("store", err)
	}
	// New keywords reach FLAGS before the FETCH responses that use them.
	s.sel.view.flushMailboxFlags(s.w)
	if silent {
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
	for _, r := range refs {
		fl, ok := current[r.uid]
		if !ok {
			continue
		}
		s.w.Raw("* ").Number(uint64(r.seq)).Raw(" FETCH (")
		if byUID {
			s.w.Raw("UID ").Number(uint64(r.uid)).SP()
		}
		s.w.Raw("FLAGS ")
		writeFlags(s.w, s.sel.view.flagsOf(r.uid, fl))
		s.w.Raw(")\r\n")
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

// announceKeywords brings the view up to date and sends a pending FLAGS
// update now, before FETCH responses that may carry a keyword the client
// was not told of (RFC 9051 §7.3.5: FLAGS lists the flags in use).
func (s *session) announceKeywords() {
	box := s.sel.view.box
	var err error
	if s.srv.askStore {
		err = box.sync(s.ctx, nil)
	} else {
		err = box.syncIfNews(s.ctx)
	}
	if err != nil {
		s.log.Warn("sync", "err", err)
	}
	s.sel.view.flushMailboxFlags(s.w)
}

// flushMailboxFlags sends a pending FLAGS update at once (new keywords
// must be announced before a FETCH that carries them).
func (v *view) flushMailboxFlags(w *imapwire.Writer) {
	b := v.box
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := v.pending[:0]
	sent := false
	for _, u := range v.pending {
		if u.kind == updMailboxFlags {
			if !sent {
				writeMailboxFlags(w, b.flagsLocked(), false)
				sent = true
			}
			continue
		}
		kept = append(kept, u)
	}
	v.pending = kept
}

package imapserver

import (
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// selected is the state of a session with a mailbox selected.
type selected struct {
	mb        store.Mailbox
	view      *view
	readOnly  bool
	searchRes []uint32 // SEARCHRES (RFC 5182): UIDs saved by SEARCH RETURN (SAVE)
}

func cmdSelect(s *session, _ string) error  { return s.selectMailbox(false) }
func cmdExamine(s *session, _ string) error { return s.selectMailbox(true) }

// selectMailbox runs SELECT or EXAMINE (RFC 9051 §6.3.2, §6.3.3). A
// selected mailbox is closed first, even when the new one fails; that is
// announced with [CLOSED] (RFC 7162 §3.2.11, used by IMAP4rev2).
func (s *session) selectMailbox(readOnly bool) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if s.r.TryByte(' ') {
		// select-params (CONDSTORE, QRESYNC): none supported.
		return bad("SELECT parameters are not supported")
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if s.sel != nil {
		s.unselect()
		s.w.Untagged("OK", "CLOSED", "Previous mailbox closed")
	}
	s.state = stateAuth
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if err != nil {
		return s.storeErr("select", err)
	}
	box, err := s.srv.hub.open(s.ctx, mb.ID)
	if err != nil {
		return s.storeErr("select", err)
	}
	if err := box.syncIfNews(s.ctx); err != nil {
		s.srv.hub.release(box)
		return s.storeErr("select", err)
	}
	// First unseen (IMAP4rev1 only): one indexed query.
	var unseen []uint32
	if !s.rev2 {
		if unseen, err = s.srv.backend.Search(s.ctx, mb.ID, &store.SearchCriteria{NotFlags: []string{store.FlagSeen}}); err != nil {
			s.srv.hub.release(box)
			return s.storeErr("select", err)
		}
	}
	var mbs []store.Mailbox
	if s.rev2 {
		// IMAP4rev2 requires a LIST response for the mailbox (RFC 9051 §6.3.2).
		if mbs, err = s.srv.backend.Mailboxes(s.ctx, s.account.AccountID); err != nil {
			s.srv.hub.release(box)
			return s.storeErr("select", err)
		}
	}
	v := newView(box, !readOnly, !s.rev2)
	s.sel = &selected{mb: mb, view: v, readOnly: readOnly}
	s.state = stateSelected

	box.mu.RLock()
	flags := box.flagsLocked()
	uidNext := box.uidNext
	box.mu.RUnlock()
	writeMailboxFlags(s.w, flags, readOnly)
	s.w.Raw("* ").Number(uint64(len(v.uids))).Raw(" EXISTS\r\n")
	if !s.rev2 {
		box.mu.RLock()
		recent := len(v.recent)
		box.mu.RUnlock()
		s.w.Raw("* ").Number(uint64(recent)).Raw(" RECENT\r\n")
		if len(unseen) > 0 {
			if seq := v.seqOf(unseen[0]); seq != 0 {
				s.w.Raw("* OK [UNSEEN ").Number(uint64(seq)).Raw("] First unseen\r\n")
			}
		}
	}
	s.w.Raw("* OK [UIDVALIDITY ").Number(uint64(mb.UIDValidity)).Raw("] UIDs valid\r\n")
	s.w.Raw("* OK [UIDNEXT ").Number(uint64(uidNext)).Raw("] Predicted next UID\r\n")
	if s.rev2 {
		attrs := []string{`\HasNoChildren`}
		for _, m := range mbs {
			if strings.HasPrefix(m.Name, mb.Name+sep) {
				attrs[0] = `\HasChildren`
				break
			}
		}
		if mb.SpecialUse != "" {
			attrs = append(attrs, mb.SpecialUse)
		}
		s.writeList("LIST", mb.Name, attrs, "")
	}
	s.log.Debug("select", "mailbox", mb.Name, "messages", len(v.uids), "readonly", readOnly)
	if readOnly {
		return &okReply{code: "READ-ONLY", text: "EXAMINE completed"}
	}
	return &okReply{code: "READ-WRITE", text: "SELECT completed"}
}

// unselect leaves the selected mailbox, if any.
func (s *session) unselect() {
	if s.sel == nil {
		return
	}
	s.sel.view.close()
	s.srv.hub.release(s.sel.view.box)
	s.sel = nil
	if s.state == stateSelected {
		s.state = stateAuth
	}
}

func cmdUnselect(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	s.unselect()
	return nil
}

// cmdClose expunges silently (unless read-only) and unselects (RFC 9051
// §6.4.1).
func cmdClose(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	if !s.sel.readOnly {
		if _, err := s.srv.backend.Expunge(s.ctx, s.sel.mb.ID, nil); err != nil {
			return s.storeErr("close", err)
		}
	}
	s.unselect()
	return nil
}

// readOnly is the reply to a change in a mailbox selected with EXAMINE.
var readOnly = no("READ-ONLY", "Mailbox is read-only")

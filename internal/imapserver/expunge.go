package imapserver

import "github.com/kantorpos/kantorpos/internal/store"

// cmdExpunge removes the messages marked \Deleted; the EXPUNGE responses
// come from the view at the end of the command. In a mailbox opened with
// EXAMINE nothing is removed.
func cmdExpunge(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	return s.expunge(nil)
}

// cmdUIDExpunge: UID EXPUNGE set (RFC 4315 §2.1).
func cmdUIDExpunge(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	set, err := s.r.SeqSet()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	uids := uidSetOf(refUIDs(s.resolve(set, true)))
	if len(uids) == 0 {
		return nil
	}
	return s.expunge(uids)
}

func (s *session) expunge(set store.UIDSet) error {
	if s.sel.readOnly {
		return nil
	}
	s.changed = true
	if _, err := s.srv.backend.Expunge(s.ctx, s.sel.mb.ID, set); err != nil {
		return s.storeErr("expunge", err)
	}
	return nil
}

package imapserver

import (
	"errors"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/store"
)

// destination finds the target of COPY, MOVE or APPEND; a missing one gets
// NO [TRYCREATE] (RFC 9051 §6.4.7).
func (s *session) destination(name string) (store.Mailbox, error) {
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if errors.Is(err, store.ErrNotFound) {
		return mb, no("TRYCREATE", "No such mailbox")
	}
	if err != nil {
		return mb, s.storeErr("mailbox", err)
	}
	return mb, nil
}

// copyArgs reads "sequence-set mailbox".
func (s *session) copyArgs() (imapwire.SeqSet, string, error) {
	if err := s.r.SP(); err != nil {
		return imapwire.SeqSet{}, "", err
	}
	set, err := s.r.SeqSet()
	if err != nil {
		return set, "", err
	}
	name, err := s.spMailbox()
	if err != nil {
		return set, "", err
	}
	return set, name, s.r.End()
}

func cmdCopy(s *session, _ string) error    { return s.copy(false) }
func cmdUIDCopy(s *session, _ string) error { return s.copy(true) }

// copy runs COPY with COPYUID (RFC 4315).
func (s *session) copy(byUID bool) error {
	set, name, err := s.copyArgs()
	if err != nil {
		return err
	}
	dst, err := s.destination(name)
	if err != nil {
		return err
	}
	refs := s.resolve(set, byUID)
	if len(refs) == 0 {
		return nil
	}
	s.changed = dst.ID == s.sel.mb.ID
	pairs, err := s.srv.backend.Copy(s.ctx, s.sel.mb.ID, uidSetOf(refUIDs(refs)), dst.ID)
	if err != nil {
		return s.storeErr("copy", err)
	}
	if code := copyUID(dst, pairs); code != "" {
		return &okReply{code: code, text: "COPY completed"}
	}
	return nil
}

// copyUID is the COPYUID response code, "" for no messages.
func copyUID(dst store.Mailbox, pairs []store.UIDPair) string {
	if len(pairs) == 0 {
		return ""
	}
	src := make([]uint32, len(pairs))
	dstUIDs := make([]uint32, len(pairs))
	for i, p := range pairs {
		src[i], dstUIDs[i] = p.Src, p.Dst
	}
	return "COPYUID " + itoa32(dst.UIDValidity) + " " + numList(src) + " " + numList(dstUIDs)
}

// numList formats UIDs in the given order as a set, keeping the order
// (COPYUID pairs them by position).
func numList(nums []uint32) string {
	ascending := true
	for i := 1; i < len(nums); i++ {
		if nums[i] <= nums[i-1] {
			ascending = false
		}
	}
	if ascending {
		return imapwire.FormatNumSet(nums)
	}
	out := ""
	for i, n := range nums {
		if i > 0 {
			out += ","
		}
		out += itoa32(n)
	}
	return out
}

func itoa32(n uint32) string { return imapwire.FormatNumSet([]uint32{n}) }

func cmdMove(s *session, _ string) error    { return s.move(false) }
func cmdUIDMove(s *session, _ string) error { return s.move(true) }

// move runs MOVE (RFC 6851): COPYUID in an untagged OK first, then the
// EXPUNGEs, which the end of the command sends from the view. MOVE into
// the selected mailbox itself gives the messages new UIDs (EXPUNGE of the
// old, EXISTS of the new).
func (s *session) move(byUID bool) error {
	set, name, err := s.copyArgs()
	if err != nil {
		return err
	}
	if s.sel.readOnly {
		return readOnly
	}
	dst, err := s.destination(name)
	if err != nil {
		return err
	}
	refs := s.resolve(set, byUID)
	if len(refs) == 0 {
		return nil
	}
	s.changed = true
	pairs, err := s.srv.backend.Move(s.ctx, s.sel.mb.ID, uidSetOf(refUIDs(refs)), dst.ID)
	if err != nil {
		return s.storeErr("move", err)
	}
	if code := copyUID(dst, pairs); code != "" {
		s.w.Untagged("OK", code, "Moved")
	}
	return nil
}

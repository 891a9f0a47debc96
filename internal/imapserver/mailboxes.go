package imapserver

import (
	"errors"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

const sep = string(store.HierarchySep)

// cmdCreate: CREATE, with CREATE-SPECIAL-USE (RFC 6154 §3) and missing
// parents created on the way (RFC 9051 §6.3.4).
func cmdCreate(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	raw, err := s.rawMailboxArg()
	if err != nil {
		return err
	}
	var uses []string
	if s.r.TryByte(' ') {
		// create-params: "(" "USE" SP "(" use-attr... ")" ")"
		if err := s.r.List(0, func() error {
			p, err := s.r.Atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(p, "USE") {
				return bad("Unknown CREATE parameter")
			}
			if err := s.r.SP(); err != nil {
				return err
			}
			fl, err := s.r.Flags(true)
			uses = append(uses, fl...)
			return err
		}); err != nil {
			return err
		}
	}
	if err := s.r.End(); err != nil {
		return err
	}
	name, err := mailboxName(strings.TrimSuffix(raw, sep)) // "CREATE foo/" creates foo
	if err != nil {
		return err
	}
	if store.IsInbox(name) {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	var use string
	if len(uses) > 0 {
		if len(uses) > 1 || !specialUse(uses[0]) {
			return no("USEATTR", "Unsupported special-use attribute")
		}
		use = uses[0]
	}
	parts := strings.Split(name, sep)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], sep)
		if _, err := s.srv.backend.CreateMailbox(s.ctx, s.account.AccountID, parent, ""); err != nil && !errors.Is(err, store.ErrExists) {
			return s.storeErr("create parent", err)
		}
	}
	if _, err := s.srv.backend.CreateMailbox(s.ctx, s.account.AccountID, name, use); err != nil {
		return s.storeErr("create", err)
	}
	return nil
}

func specialUse(attr string) bool {
	switch attr {
	case store.SpecialAll, store.SpecialArchive, store.SpecialDrafts, store.SpecialFlagged,
		store.SpecialJunk, store.SpecialSent, store.SpecialTrash:
		return true
	}
	return false
}

// cmdDelete: children stay (RFC 9051 §6.3.5); LIST then shows the deleted
// parent as \Noselect.
func cmdDelete(s *session, _ string) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if store.IsInbox(name) {
		return no("CANNOT", "INBOX cannot be deleted")
	}
	if err := s.srv.backend.DeleteMailbox(s.ctx, s.account.AccountID, name); err != nil {
		return s.storeErr("delete", err)
	}
	return nil
}

// cmdRename: renaming INBOX moves its messages into the new mailbox and
// leaves INBOX empty (RFC 9051 §6.3.6).
func cmdRename(s *session, _ string) error {
	from, err := s.spMailbox()
	if err != nil {
		return err
	}
	to, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	parts := strings.Split(to, sep)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], sep)
		if parent == from {
			break // the store refuses renaming a mailbox under itself
		}
		if _, err := s.srv.backend.CreateMailbox(s.ctx, s.account.AccountID, parent, ""); err != nil && !errors.Is(err, store.ErrExists) {
			return s.storeErr("rename parent", err)
		}
	}
	if err := s.srv.backend.RenameMailbox(s.ctx, s.account.AccountID, from, to); err != nil {
		return s.storeErr("rename", err)
	}
	return nil
}

func cmdSubscribe(s *session, _ string) error   { return s.subscribe(true) }
func cmdUnsubscribe(s *session, _ string) error { return s.subscribe(false) }

func (s *session) subscribe(on bool) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if err := s.srv.backend.SetSubscribed(s.ctx, s.account.AccountID, name, on); err != nil {
		return s.storeErr("subscribe", err)
	}
	return nil
}

// writeMailboxName writes a name as clients expect it: INBOX as an atom,
// others quoted (modified UTF-7 unless UTF8=ACCEPT).
func (s *session) writeMailboxName(name string) {
	if store.IsInbox(name) {
		s.w.Raw("INBOX")
		return
	}
	s.w.MailboxString(name, s.utf8)
}

// writeList writes one LIST (or LSUB) response; extra is appended raw
// (CHILDINFO).
func (s *session) writeList(kind, name string, attrs []string, extra string) {
	s.w.Raw("* ").Raw(kind).Raw(" (").Raw(strings.Join(attrs, " ")).Raw(`) "/" `)
	s.writeMailboxName(name)
	if extra != "" {
		s.w.SP().Raw(extra)
	}
	s.w.CRLF()
}

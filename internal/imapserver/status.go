package imapserver

import (
	"slices"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// statusOrder is the order STATUS items are written in.
var statusOrder = []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "APPENDLIMIT", "DELETED-STORAGE", "RECENT"}

// statusItems reads a parenthesised list of STATUS items (RFC 9051
// §6.3.11, RFC 8438 SIZE, RFC 7889 APPENDLIMIT, RFC 9208 DELETED-STORAGE).
func (s *session) statusItems() ([]string, error) {
	var items []string
	err := s.r.List(0, func() error {
		a, err := s.r.Atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		if !slices.Contains(statusOrder, a) {
			return bad("Unknown STATUS item")
		}
		items = append(items, a)
		return nil
	})
	return items, err
}

// cmdStatus: STATUS mailbox (items).
func cmdStatus(s *session, _ string) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	items, err := s.statusItems()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if len(items) == 0 {
		return bad("No STATUS items")
	}
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if err != nil {
		return s.storeErr("status", err)
	}
	return s.writeStatus(&mb, items)
}

func (s *session) writeStatus(mb *store.Mailbox, items []string) error {
	st, err := s.srv.backend.MailboxStatus(s.ctx, mb.ID)
	if err != nil {
		return s.storeErr("status", err)
	}
	var delStorage int64
	if slices.Contains(items, "DELETED-STORAGE") {
		if delStorage, err = deletedStorage(s.ctx, s.srv.backend, mb.ID); err != nil {
			return s.storeErr("status", err)
		}
	}
	recent := 0
	if slices.Contains(items, "RECENT") {
		if recent, err = s.recentCount(s.ctx, mb.ID, st.UIDNext); err != nil {
			return s.storeErr("status", err)
		}
	}
	s.w.Raw("* STATUS ")
	s.writeMailboxName(mb.Name)
	s.w.Raw(" (")
	first := true
	for _, it := range statusOrder {
		if !slices.Contains(items, it) {
			continue
		}
		if !first {
			s.w.SP()
		}
		first = false
		s.w.Raw(it).SP()
		switch it {
		case "MESSAGES":
			s.w.Number(uint64(st.Messages))
		case "UIDNEXT":
			s.w.Number(uint64(st.UIDNext))
		case "UIDVALIDITY":
			s.w.Number(uint64(st.UIDValidity))
		case "UNSEEN":
			s.w.Number(uint64(st.Unseen))
		case "DELETED":
			s.w.Number(uint64(st.Deleted))
		case "SIZE":
			s.w.Number(uint64(max(st.Size, 0)))
		case "APPENDLIMIT":
			s.w.Number(uint64(s.srv.cfg.AppendLimit))
		case "DELETED-STORAGE":
			s.w.Number(uint64(delStorage))
		case "RECENT":
			s.w.Number(uint64(recent))
		}
	}
	s.w.Raw(")\r\n")
	return nil
}

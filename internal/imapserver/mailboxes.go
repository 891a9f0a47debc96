package imapserver

import (
	"errors"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kantorpos/kantorpos/internal/store"
)

const sep = string(store.HierarchySep)

// Create implements imapserver.Session: CREATE, with CREATE-SPECIAL-USE
// (RFC 6154 3) and missing parents created on the way (RFC 9051 6.3.4).
func (s *session) Create(name string, opts *imap.CreateOptions) error {
	defer s.enter()()
	name = strings.TrimSuffix(name, sep) // "CREATE foo/" creates foo
	name, err := mailboxName(name)
	if err != nil {
		return err
	}
	if store.IsInbox(name) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "INBOX always exists"}
	}
	var use string
	if opts != nil && len(opts.SpecialUse) > 0 {
		if len(opts.SpecialUse) > 1 || !specialUse(string(opts.SpecialUse[0])) {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "Unsupported special-use attribute"}
		}
		use = string(opts.SpecialUse[0])
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

// Delete implements imapserver.Session. Children stay (RFC 9051 6.3.5);
// LIST then shows the deleted parent as \Noselect.
func (s *session) Delete(name string) error {
	defer s.enter()()
	name, err := mailboxName(name)
	if err != nil {
		return err
	}
	if store.IsInbox(name) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "INBOX cannot be deleted"}
	}
	if err := s.srv.backend.DeleteMailbox(s.ctx, s.account.AccountID, name); err != nil {
		return s.storeErr("delete", err)
	}
	return nil
}

// Rename implements imapserver.Session; renaming INBOX moves its messages
// into the new mailbox and leaves INBOX empty (RFC 9051 6.3.6).
func (s *session) Rename(from, to string, _ *imap.RenameOptions) error {
	defer s.enter()()
	from, err := mailboxName(from)
	if err != nil {
		return err
	}
	if to, err = mailboxName(to); err != nil {
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

// Subscribe implements imapserver.Session.
func (s *session) Subscribe(name string) error { return s.subscribe(name, true) }

// Unsubscribe implements imapserver.Session.
func (s *session) Unsubscribe(name string) error { return s.subscribe(name, false) }

func (s *session) subscribe(name string, on bool) error {
	defer s.enter()()
	name, err := mailboxName(name)
	if err != nil {
		return err
	}
	if err := s.srv.backend.SetSubscribed(s.ctx, s.account.AccountID, name, on); err != nil {
		return s.storeErr("subscribe", err)
	}
	return nil
}

// listEntry is a name LIST may report: a mailbox, or a parent or
// subscription that does not exist.
type listEntry struct {
	name       string
	mb         *store.Mailbox
	subscribed bool
	children   bool
	subChild   bool // a descendant is subscribed (RECURSIVEMATCH)
}

// List implements imapserver.Session: LIST with LIST-EXTENDED selection
// and return options (SUBSCRIBED, SPECIAL-USE, CHILDREN, STATUS), and
// LSUB (RFC 3501 6.3.9). \HasChildren/\HasNoChildren and special-use
// attributes are always returned: clients rely on them.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	defer s.enter()()
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and root (RFC 9051 6.3.9).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: store.HierarchySep})
	}
	mbs, err := s.srv.backend.Mailboxes(s.ctx, s.account.AccountID)
	if err != nil {
		return s.storeErr("list", err)
	}
	subs, err := s.srv.backend.Subscriptions(s.ctx, s.account.AccountID)
	if err != nil {
		return s.storeErr("list", err)
	}
	entries := map[string]*listEntry{}
	get := func(name string) *listEntry {
		e := entries[name]
		if e == nil {
			e = &listEntry{name: name}
			entries[name] = e
		}
		return e
	}
	for i := range mbs {
		get(mbs[i].Name).mb = &mbs[i]
	}
	for _, n := range subs {
		get(n).subscribed = true
	}
	for name, e := range entries {
		parts := strings.Split(name, sep)
		for i := 1; i < len(parts); i++ {
			p := get(strings.Join(parts[:i], sep))
			p.children = true
			if e.subscribed {
				p.subChild = true
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if store.IsInbox(names[i]) != store.IsInbox(names[j]) {
			return store.IsInbox(names[i])
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		e := entries[name]
		if !matchAny(name, ref, patterns) {
			continue
		}
		data := &imap.ListData{Mailbox: name, Delim: store.HierarchySep}
		switch {
		case opts.SelectSubscribed && !e.subscribed:
			if !(opts.SelectRecursiveMatch && e.subChild) {
				continue
			}
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		case opts.SelectSpecialUse && (e.mb == nil || e.mb.SpecialUse == ""):
			continue
		case e.mb == nil && !e.children && !opts.SelectSubscribed:
			continue // a subscription to a mailbox that is gone: LSUB/SUBSCRIBED only
		}
		if e.mb == nil {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
			if !e.children {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
			}
		}
		if e.children {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if e.subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if e.mb != nil && e.mb.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(e.mb.SpecialUse))
		}
		if opts.ReturnStatus != nil && e.mb != nil {
			st, err := s.status(e.mb, opts.ReturnStatus)
			if err != nil {
				return err
			}
			data.Status = st
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// matchAny reports whether a name matches one of the LIST patterns; INBOX
// matches case-insensitively (RFC 9051 5.1).
func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, store.HierarchySep, ref, p) {
			return true
		}
		if store.IsInbox(name) || strings.HasPrefix(name, store.Inbox+sep) {
			if imapserver.MatchList(name, store.HierarchySep, store.CanonicalName(ref), store.CanonicalName(p)) {
				return true
			}
		}
	}
	return false
}

// Status implements imapserver.Session.
func (s *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	defer s.enter()()
	name, err := mailboxName(name)
	if err != nil {
		return nil, err
	}
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if err != nil {
		return nil, s.storeErr("status", err)
	}
	return s.status(&mb, opts)
}

func (s *session) status(mb *store.Mailbox, opts *imap.StatusOptions) (*imap.StatusData, error) {
	st, err := s.srv.backend.MailboxStatus(s.ctx, mb.ID)
	if err != nil {
		return nil, s.storeErr("status", err)
	}
	zero := uint32(0)
	limit := s.srv.cfg.AppendLimit
	data := &imap.StatusData{
		Mailbox:     mb.Name,
		NumMessages: &st.Messages,
		UIDNext:     imap.UID(st.UIDNext),
		UIDValidity: st.UIDValidity,
		NumUnseen:   &st.Unseen,
		NumDeleted:  &st.Deleted,
		Size:        &st.Size,
		NumRecent:   &zero,
		AppendLimit: &limit,
	}
	if opts.DeletedStorage {
		var none int64
		data.DeletedStorage = &none
	}
	return data, nil
}

package imapserver

import (
	"sort"
	"strings"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/store"
)

// listOptions are LIST-EXTENDED's selection and return options (RFC 5258,
// RFC 6154 SPECIAL-USE, RFC 5819 LIST-STATUS).
type listOptions struct {
	selSubscribed, selRecursive, selSpecialUse bool
	retSubscribed, retChildren, retSpecialUse  bool
	retStatus                                  []string // nil: no STATUS
	lsub                                       bool
}

func cmdLsub(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	ref, err := s.listRef()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	pat, err := s.r.ListMailbox()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	return s.list(ref, []string{pat}, &listOptions{selSubscribed: true, lsub: true})
}

// cmdList: LIST [(selection)] reference patterns [RETURN (options)].
func cmdList(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	o := &listOptions{}
	if s.r.Peek() == '(' {
		if err := s.r.List(0, func() error {
			opt, err := s.r.Atom()
			switch strings.ToUpper(opt) {
			case "SUBSCRIBED":
				o.selSubscribed = true
			case "RECURSIVEMATCH":
				o.selRecursive = true
			case "SPECIAL-USE":
				o.selSpecialUse = true
			case "REMOTE":
			default:
				if err == nil {
					err = bad("Unknown LIST selection option")
				}
			}
			return err
		}); err != nil {
			return err
		}
		if o.selRecursive && !o.selSubscribed && !o.selSpecialUse {
			return bad("RECURSIVEMATCH needs another selection option") // RFC 5258 §3
		}
		if err := s.r.SP(); err != nil {
			return err
		}
	}
	ref, err := s.listRef()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	var patterns []string
	if s.r.Peek() == '(' {
		err = s.r.List(0, func() error {
			p, err := s.r.ListMailbox()
			patterns = append(patterns, p)
			return err
		})
	} else {
		var p string
		p, err = s.r.ListMailbox()
		patterns = append(patterns, p)
	}
	if err != nil {
		return err
	}
	if s.r.TryByte(' ') {
		word, err := s.r.Atom()
		if err != nil || !strings.EqualFold(word, "RETURN") {
			return bad("Expected RETURN")
		}
		if err := s.r.SP(); err != nil {
			return err
		}
		if err := s.r.List(0, func() error {
			opt, err := s.r.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(opt) {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecialUse = true
			case "STATUS":
				if err := s.r.SP(); err != nil {
					return err
				}
				items, err := s.statusItems()
				if items == nil {
					items = []string{} // STATUS () still asks for STATUS
				}
				o.retStatus = items
				return err
			default:
				return bad("Unknown LIST return option")
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if len(patterns) == 1 && patterns[0] == "" {
		// LIST "" "": the hierarchy delimiter and root (RFC 9051 §6.3.9).
		s.w.Raw(`* LIST (\Noselect) "/" ""` + "\r\n")
		return nil
	}
	return s.list(ref, patterns, o)
}

// listRef reads LIST's reference name (a mailbox name, not checked; it
// is decoded with the patterns, in list).
func (s *session) listRef() (string, error) {
	return s.r.AString()
}

// listPattern is a reference and a pattern as list matches them: decoded
// from modified UTF-7, or, when one of them is not valid modified UTF-7,
// as sent (literal), to be matched against the names as the client sees
// them, encoded (issue 17).
type listPattern struct {
	ref, pattern string
	literal      bool
}

func (s *session) listPatterns(rawRef string, rawPatterns []string) []listPattern {
	ref, refErr := imapwire.DecodeMailbox(rawRef, s.utf8)
	if rawRef == "" {
		ref, refErr = "", nil
	}
	out := make([]listPattern, len(rawPatterns))
	for i, p := range rawPatterns {
		d, err := imapwire.DecodeMailbox(p, s.utf8)
		if err != nil || refErr != nil {
			out[i] = listPattern{ref: rawRef, pattern: p, literal: true}
			continue
		}
		out[i] = listPattern{ref: ref, pattern: d}
	}
	return out
}

// listEntry is a name LIST may report: a mailbox, or a parent or
// subscription that does not exist.
type listEntry struct {
	name       string
	mb         *store.Mailbox
	subscribed bool
	children   bool
	subChild   bool // a descendant is subscribed (LSUB's \Noselect parents)
	// subHidden: a subscribed descendant does not match the patterns, so
	// RECURSIVEMATCH reports it as CHILDINFO here (RFC 5258 §3.5, §4.5).
	subHidden bool
}

// list writes the LIST or LSUB responses. \HasChildren/\HasNoChildren and
// special-use attributes are always returned: clients rely on them.
func (s *session) list(rawRef string, rawPatterns []string, o *listOptions) error {
	patterns := s.listPatterns(rawRef, rawPatterns)
	match := func(name string) bool { return matchAny(name, patterns, s.utf8) }
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
		hidden := e.subscribed && o.selRecursive && !match(name)
		for i := 1; i < len(parts); i++ {
			p := get(strings.Join(parts[:i], sep))
			p.children = true
			if e.subscribed {
				p.subChild = true
			}
			if hidden {
				p.subHidden = true
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
	kind := "LIST"
	if o.lsub {
		kind = "LSUB"
	}
	for _, name := range names {
		e := entries[name]
		if !match(name) {
			continue
		}
		var attrs []string
		extra := ""
		lsubParent := false
		switch {
		case o.lsub && !e.subscribed && e.subChild && hasPercent(patterns):
			// RFC 3501 §6.3.9: a parent hidden by "%" whose child is
			// subscribed is listed with \Noselect.
			lsubParent = true
		case o.selSubscribed && !e.subscribed && !e.subHidden:
			continue
		case o.selSpecialUse && (e.mb == nil || e.mb.SpecialUse == ""):
			continue
		case e.mb == nil && !e.children && !o.selSubscribed:
			continue // a subscription to a mailbox that is gone: LSUB/SUBSCRIBED only
		}
		switch {
		case lsubParent:
			attrs = append(attrs, `\Noselect`)
		case e.mb == nil && !e.children:
			// \NonExistent implies \Noselect (RFC 5258 §3.4): not both.
			attrs = append(attrs, `\NonExistent`)
		case e.mb == nil:
			attrs = append(attrs, `\Noselect`)
		}
		if e.children {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if e.subscribed && !o.lsub && (o.retSubscribed || o.selSubscribed) {
			attrs = append(attrs, `\Subscribed`)
		}
		if e.mb != nil && e.mb.SpecialUse != "" {
			attrs = append(attrs, e.mb.SpecialUse)
		}
		if o.selSubscribed && e.subHidden {
			// RFC 5258 §3.5: only with RECURSIVEMATCH (subHidden needs it),
			// for a subscribed descendant that is not listed itself.
			extra = `("CHILDINFO" ("SUBSCRIBED"))`
		}
		s.writeList(kind, name, attrs, extra)
		if o.retStatus != nil && e.mb != nil {
			if err := s.writeStatus(e.mb, o.retStatus); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasPercent(patterns []listPattern) bool {
	for _, p := range patterns {
		if strings.Contains(p.pattern, "%") {
			return true
		}
	}
	return false
}

// matchAny reports whether a name matches one of the LIST patterns; INBOX
// matches case-insensitively (RFC 9051 §5.1). A literal pattern (not valid
// modified UTF-7) is matched against the name as the client sees it.
func matchAny(name string, patterns []listPattern, utf8 bool) bool {
	for _, p := range patterns {
		n := name
		if p.literal && !utf8 {
			n = imapwire.EncodeUTF7(name)
		}
		if matchList(n, p.ref, p.pattern) {
			return true
		}
		if store.IsInbox(name) || strings.HasPrefix(name, store.Inbox+sep) {
			if matchList(n, store.CanonicalName(p.ref), store.CanonicalName(p.pattern)) {
				return true
			}
		}
	}
	return false
}

// matchList matches a name against reference + pattern (RFC 9051 §6.3.9):
// "*" matches anything, "%" anything but the hierarchy separator. A
// pattern starting with the separator ignores the reference.
func matchList(name, ref, pattern string) bool {
	if strings.HasPrefix(pattern, sep) {
		ref = ""
		pattern = pattern[1:]
	}
	if ref != "" && !strings.HasSuffix(ref, sep) {
		ref += sep
	}
	if !strings.HasPrefix(name, ref) {
		return false
	}
	return wildcardMatch(name[len(ref):], pattern)
}

// wildcardMatch runs in O(len(name)·len(pattern)) whatever the pattern.
func wildcardMatch(name, pattern string) bool {
	cur := make([]bool, len(name)+1) // cur[j]: pattern so far matches name[:j]
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			any := false
			for j := 0; j <= len(name); j++ {
				any = any || cur[j]
				next[j] = any
			}
		case '%':
			any := false
			for j := 0; j <= len(name); j++ {
				if j > 0 && name[j-1] == store.HierarchySep {
					any = false
				}
				any = any || cur[j]
				next[j] = any
			}
		default:
			next[0] = false
			for j := 1; j <= len(name); j++ {
				next[j] = cur[j-1] && name[j-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}

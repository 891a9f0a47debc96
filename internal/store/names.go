package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxMailboxNameLen bounds a mailbox name in bytes.
const MaxMailboxNameLen = 512

// ValidMailboxName checks a mailbox name (already decoded from modified
// UTF-7 by the IMAP layer): valid NFC UTF-8, no control characters, no
// empty, "." or ".." component, no leading, trailing or doubled separator,
// no leading "#" (namespaces), and bounded length. Nothing a client sends
// can name a path outside its own hierarchy.
func ValidMailboxName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrInvalidName, name, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxMailboxNameLen:
		return bad("too long")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case !norm.NFC.IsNormalString(name):
		return bad("not in Unicode NFC form")
	case strings.HasPrefix(name, "#"):
		return bad("leading #")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\\' || r == '*' || r == '%' || r == 0xFFFD {
			return bad("forbidden character")
		}
	}
	for _, part := range strings.Split(name, string(HierarchySep)) {
		switch strings.TrimSpace(part) {
		case "":
			return bad("empty component")
		case ".", "..":
			return bad("dot component")
		}
	}
	return nil
}

// IsInbox reports whether name is INBOX (case-insensitive, RFC 9051 5.1).
func IsInbox(name string) bool { return strings.EqualFold(name, Inbox) }

// CanonicalName spells INBOX and its children with upper-case INBOX.
func CanonicalName(name string) string {
	if IsInbox(name) {
		return Inbox
	}
	if len(name) > len(Inbox) && IsInbox(name[:len(Inbox)]) && name[len(Inbox)] == HierarchySep {
		return Inbox + name[len(Inbox):]
	}
	return name
}

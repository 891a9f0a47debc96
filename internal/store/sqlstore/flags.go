package sqlstore

import (
	"sort"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// System flags are bits in messages.sysflags; keywords are a space-delimited
// list with a leading and trailing space (" $Junk work "), so that a keyword
// search is a LIKE on "% kw %".
const (
	flagSeen = 1 << iota
	flagAnswered
	flagFlagged
	flagDeleted
	flagDraft
)

var sysFlagBits = map[string]int{
	strings.ToLower(store.FlagSeen):     flagSeen,
	strings.ToLower(store.FlagAnswered): flagAnswered,
	strings.ToLower(store.FlagFlagged):  flagFlagged,
	strings.ToLower(store.FlagDeleted):  flagDeleted,
	strings.ToLower(store.FlagDraft):    flagDraft,
}

var sysFlagNames = []struct {
	bit  int
	name string
}{
	{flagSeen, store.FlagSeen}, {flagAnswered, store.FlagAnswered}, {flagFlagged, store.FlagFlagged},
	{flagDeleted, store.FlagDeleted}, {flagDraft, store.FlagDraft},
}

// splitFlags turns flag names into system bits and a keyword list.
// \Recent and unknown system flags are ignored; keywords with characters
// that are not IMAP atom characters are dropped.
func splitFlags(flags []string) (bits int, keywords []string) {
	seen := map[string]bool{}
	for _, f := range flags {
		lf := strings.ToLower(f)
		if strings.HasPrefix(f, `\`) {
			bits |= sysFlagBits[lf]
			continue
		}
		if !validKeyword(f) || seen[lf] {
			continue
		}
		seen[lf] = true
		keywords = append(keywords, f)
	}
	sort.Slice(keywords, func(i, j int) bool { return strings.ToLower(keywords[i]) < strings.ToLower(keywords[j]) })
	return bits, keywords
}

func validKeyword(k string) bool {
	if k == "" || len(k) > 100 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`(){%*"\]`, c) {
			return false
		}
	}
	return true
}

func joinKeywords(kw []string) string {
	if len(kw) == 0 {
		return ""
	}
	return " " + strings.Join(kw, " ") + " "
}

// flagList renders stored flags as names.
func flagList(bits int, keywords string) []string {
	out := make([]string, 0, 4)
	for _, f := range sysFlagNames {
		if bits&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return append(out, strings.Fields(keywords)...)
}

// applyFlags combines stored flags with an operation.
func applyFlags(bits int, keywords string, op store.FlagOp, fbits int, fkw []string) (int, string) {
	switch op {
	case store.FlagsSet:
		return fbits, joinKeywords(fkw)
	case store.FlagsAdd:
		_, kw := splitFlags(append(strings.Fields(keywords), fkw...))
		return bits | fbits, joinKeywords(kw)
	case store.FlagsRemove:
		drop := map[string]bool{}
		for _, k := range fkw {
			drop[strings.ToLower(k)] = true
		}
		var kw []string
		for _, k := range strings.Fields(keywords) {
			if !drop[strings.ToLower(k)] {
				kw = append(kw, k)
			}
		}
		return bits &^ fbits, joinKeywords(kw)
	}
	return bits, keywords
}

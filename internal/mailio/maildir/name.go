// Package maildir reads and writes Maildir and Dovecot's Maildir++ layout:
// message file names with their flag letters, folder directory names,
// dovecot-keywords and dovecot-uidlist.
//
// A message file name is "BASE:2,FLAGS" in cur/ (cr.yp.to/proto/maildir.html),
// where BASE may carry Dovecot's ",S=<size>" (file size) and ",W=<size>"
// (size with CRLF line ends) fields. Flag letters, in ASCII order:
//
//	D \Draft   F \Flagged   P $Forwarded   R \Answered   S \Seen   T \Deleted
//	a-z        keywords numbered in dovecot-keywords (0 = a, 1 = b, ...)
package maildir

import (
	"sort"
	"strconv"
	"strings"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Forwarded is the keyword of the P (passed) flag letter.
const Forwarded = "$Forwarded"

var letterFlags = map[byte]string{
	'D': store.FlagDraft, 'F': store.FlagFlagged, 'P': Forwarded,
	'R': store.FlagAnswered, 'S': store.FlagSeen, 'T': store.FlagDeleted,
}

// Name is a parsed message file name.
type Name struct {
	Base string // the unique part, without ":2,..." (and without ",S=", ",W=")
	// Size and VSize are Dovecot's S= and W= fields (-1 when absent).
	Size, VSize int64
	// Letters are the flag letters after ":2," (sorted, deduplicated).
	Letters string
	// HasInfo says the name had a ":2," part.
	HasInfo bool
}

// ParseName parses a message file name. It never fails: a name without
// an info part simply has no flags.
func ParseName(name string) Name {
	n := Name{Size: -1, VSize: -1}
	base := name
	// Dovecot and most tools use ':'; some (Windows-friendly) use '!' or ';'.
	if i := strings.LastIndexAny(name, ":!;"); i >= 0 && strings.HasPrefix(name[i+1:], "2,") {
		base = name[:i]
		n.HasInfo = true
		seen := map[byte]bool{}
		var letters []byte
		for _, c := range []byte(name[i+3:]) {
			if (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') && !seen[c] {
				seen[c] = true
				letters = append(letters, c)
			}
		}
		sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
		n.Letters = string(letters)
	}
	// ",S=123,W=456" fields follow the unique part.
	parts := strings.Split(base, ",")
	n.Base = parts[0]
	for _, p := range parts[1:] {
		switch {
		case strings.HasPrefix(p, "S="):
			if v, err := strconv.ParseInt(p[2:], 10, 64); err == nil && v >= 0 {
				n.Size = v
			}
		case strings.HasPrefix(p, "W="):
			if v, err := strconv.ParseInt(p[2:], 10, 64); err == nil && v >= 0 {
				n.VSize = v
			}
		default:
			n.Base += "," + p
		}
	}
	return n
}

// Flags turns the flag letters into IMAP flags; keywords maps a keyword
// letter's index (a = 0) to its name (dovecot-keywords). Letters with no
// known meaning are dropped.
func (n Name) Flags(keywords []string) []string {
	var out []string
	for _, c := range []byte(n.Letters) {
		if f, ok := letterFlags[c]; ok {
			out = append(out, f)
			continue
		}
		if c >= 'a' && c <= 'z' {
			if i := int(c - 'a'); i < len(keywords) && keywords[i] != "" {
				out = append(out, keywords[i])
			}
		}
	}
	return out
}

// Letters returns the flag letters of IMAP flags, in ASCII order, and the
// keywords that had no letter (kw assigns letters to keywords; nil
// drops every keyword).
func Letters(flags []string, kw *Keywords) (letters string, dropped []string) {
	var b []byte
	for _, f := range flags {
		lf := strings.ToLower(f)
		found := false
		for c, name := range letterFlags {
			if strings.ToLower(name) == lf {
				b = append(b, c)
				found = true
				break
			}
		}
		if found || strings.HasPrefix(f, `\`) {
			continue
		}
		if c, ok := kw.Letter(f); ok {
			b = append(b, c)
		} else {
			dropped = append(dropped, f)
		}
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b), dropped
}

// FormatName builds a file name for cur/: BASE,S=size,W=vsize:2,LETTERS.
func FormatName(base string, size, vsize int64, letters string) string {
	return base + ",S=" + strconv.FormatInt(size, 10) + ",W=" + strconv.FormatInt(vsize, 10) + ":2," + letters
}

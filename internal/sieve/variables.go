package sieve

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxVarLen bounds a variable's value (RFC 5229 6 lets us truncate).
const maxVarLen = 4096

// expand substitutes ${name} and ${N} when the script requires variables
// (RFC 5229 3). Unknown variables expand to "".
func (r *run) expand(s string) string {
	if !r.s.Requires["variables"] || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+2 : i+end]
		if !validVarName(name) && !isNumber(name) {
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(r.getVar(name))
		s = s[i+end+1:]
		if b.Len() > maxVarLen*4 {
			break
		}
	}
	return b.String()
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (r *run) getVar(name string) string {
	if isNumber(name) {
		n, err := strconv.Atoi(name)
		if err == nil && n < len(r.matchVars) {
			return r.matchVars[n]
		}
		return ""
	}
	return r.vars[strings.ToLower(name)]
}

func (r *run) setVar(name, value string) error {
	name = strings.ToLower(name)
	if _, ok := r.vars[name]; !ok && len(r.vars) >= r.lim.MaxVariables {
		return errf(0, "more than %d variables", r.lim.MaxVariables)
	}
	if len(value) > maxVarLen {
		value = value[:maxVarLen]
		for !utf8.ValidString(value) && value != "" {
			value = value[:len(value)-1]
		}
	}
	r.vars[name] = value
	return nil
}

// set runs the set command with its modifiers, applied in the order of
// RFC 5229 4.1 (length last).
func (r *run) set(a args) error {
	v := r.expand(a.pos[1].Strs[0])
	if a.has("lower") {
		v = strings.ToLower(v)
	}
	if a.has("upper") {
		v = strings.ToUpper(v)
	}
	if a.has("lowerfirst") || a.has("upperfirst") {
		if c, n := utf8.DecodeRuneInString(v); n > 0 {
			if a.has("lowerfirst") {
				c = unicode.ToLower(c)
			} else {
				c = unicode.ToUpper(c)
			}
			v = string(c) + v[n:]
		}
	}
	if a.has("quotewildcard") {
		v = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(v)
	}
	if a.has("quoteregex") {
		v = regexp.QuoteMeta(v)
	}
	if a.has("length") {
		v = strconv.Itoa(utf8.RuneCountInString(v))
	}
	return r.setVar(a.pos[0].Strs[0], v)
}

// Flags (RFC 5232). A flag list is kept space-separated, without
// duplicates, compared case-insensitively.
func splitFlags(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Fields(s) {
		if k := strings.ToLower(f); !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

func (r *run) flagCommand(name string, a args) error {
	list := a.pos[len(a.pos)-1].Strs
	var given []string
	for _, f := range list {
		given = append(given, splitFlags(r.expand(f))...)
	}
	cur := r.flags
	varName := ""
	if len(a.pos) == 2 {
		varName = r.expand(a.pos[0].Strs[0])
		if !validVarName(varName) {
			return errf(0, "%s: bad variable name %q", name, varName)
		}
		cur = splitFlags(r.getVar(varName))
	}
	var next []string
	switch name {
	case "setflag":
		next = splitFlags(strings.Join(given, " "))
	case "addflag":
		next = splitFlags(strings.Join(append(append([]string{}, cur...), given...), " "))
	case "removeflag":
		drop := map[string]bool{}
		for _, f := range given {
			drop[strings.ToLower(f)] = true
		}
		for _, f := range cur {
			if !drop[strings.ToLower(f)] {
				next = append(next, f)
			}
		}
	}
	if len(next) > 64 {
		return errf(0, "more than 64 flags")
	}
	if varName != "" {
		return r.setVar(varName, strings.Join(next, " "))
	}
	r.flags = next
	return nil
}

// actionFlags are the flags for keep or fileinto: :flags, or the internal
// variable (RFC 5232 5).
func (r *run) actionFlags(a args) []string {
	if !r.s.Requires["imap4flags"] {
		return nil
	}
	if a.has("flags") {
		var out []string
		for _, f := range a.tags["flags"].Strs {
			out = append(out, splitFlags(r.expand(f))...)
		}
		return splitFlags(strings.Join(out, " "))
	}
	return append([]string(nil), r.flags...)
}

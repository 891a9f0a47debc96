package sieve

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

const maxRegexLen = 1024

// matcher is a test's match type and comparator (RFC 5228 2.7).
type matcher struct {
	typ string // is, contains, matches, regex, count, value
	rel string // for count and value (RFC 5231)
	cmp string // i;octet, i;ascii-casemap, i;ascii-numeric
}

func newMatcher(a args) matcher {
	m := matcher{typ: "is", cmp: "i;ascii-casemap"}
	for _, t := range []string{"is", "contains", "matches", "regex", "count", "value"} {
		if a.has(t) {
			m.typ = t
		}
	}
	m.rel = strings.ToLower(a.str("count") + a.str("value"))
	if a.has("comparator") {
		m.cmp = a.str("comparator")
	}
	return m
}

// relOp returns the comparison of a relational operator (RFC 5231 4.2).
func relOp(op string) func(c int) bool {
	switch strings.ToLower(op) {
	case "gt":
		return func(c int) bool { return c > 0 }
	case "ge":
		return func(c int) bool { return c >= 0 }
	case "lt":
		return func(c int) bool { return c < 0 }
	case "le":
		return func(c int) bool { return c <= 0 }
	case "eq":
		return func(c int) bool { return c == 0 }
	case "ne":
		return func(c int) bool { return c != 0 }
	}
	return nil
}

// match tests values against keys. For :matches and :regex, a successful
// match sets the match variables (RFC 5229 3.2).
func (r *run) match(m matcher, values, keys []string) (bool, error) {
	if m.typ == "count" {
		// RFC 5231 4.1: the number of values, compared with each key.
		n := strconv.Itoa(len(values))
		for _, k := range keys {
			if relOp(m.rel)(compare(m.cmp, n, r.expand(k))) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, v := range values {
		for _, k := range keys {
			if err := r.step(); err != nil {
				return false, err
			}
			ok, err := r.match1(m, v, r.expand(k))
			if ok || err != nil {
				return ok, err
			}
		}
	}
	return false, nil
}

func (r *run) match1(m matcher, v, k string) (bool, error) {
	switch m.typ {
	case "is":
		return compare(m.cmp, v, k) == 0, nil
	case "value":
		return relOp(m.rel)(compare(m.cmp, v, k)), nil
	case "contains":
		if m.cmp == "i;ascii-numeric" {
			return false, nil // RFC 4790 9.1: no substring operation
		}
		if m.cmp == "i;ascii-casemap" {
			v, k = lowerASCII(v), lowerASCII(k)
		}
		return strings.Contains(v, k), nil
	case "matches", "regex":
		if m.cmp == "i;ascii-numeric" {
			return false, nil
		}
		re, err := r.regex(m, k)
		if err != nil {
			return false, err
		}
		in := v
		if m.typ == "matches" && m.cmp == "i;ascii-casemap" {
			in = lowerASCII(v) // same length: the indexes fit v
		}
		idx := re.FindStringSubmatchIndex(in)
		if idx == nil {
			return false, nil
		}
		if r.s.Requires["variables"] {
			caps := make([]string, 0, 10)
			for i := 0; i+1 < len(idx) && i/2 < 10; i += 2 {
				if idx[i] < 0 {
					caps = append(caps, "")
				} else {
					caps = append(caps, v[idx[i]:idx[i+1]])
				}
			}
			r.matchVars = caps
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown match type %s", m.typ)
}

// regex compiles a :matches glob or a :regex pattern, cached per run.
func (r *run) regex(m matcher, k string) (*regexp.Regexp, error) {
	key := m.typ + m.cmp + "\x00" + k
	if re, ok := r.regexps[key]; ok {
		return re, nil
	}
	var re *regexp.Regexp
	var err error
	if m.typ == "matches" {
		if m.cmp == "i;ascii-casemap" {
			k = lowerASCII(k)
		}
		re, err = regexp.Compile(globToRegex(k))
	} else {
		re, err = compileRegex(k, m.cmp == "i;ascii-casemap")
	}
	if err != nil {
		return nil, errf(0, "bad pattern %q: %v", k, err)
	}
	if len(r.regexps) < 256 {
		r.regexps[key] = re
	}
	return re, nil
}

// compileRegex compiles a :regex key. Go's RE2 runs in linear time, so a
// hostile pattern cannot stall delivery.
func compileRegex(p string, fold bool) (*regexp.Regexp, error) {
	if len(p) > maxRegexLen {
		return nil, fmt.Errorf("longer than %d bytes", maxRegexLen)
	}
	flags := "(?s)"
	if fold {
		flags = "(?is)"
	}
	return regexp.Compile(flags + p)
}

// globToRegex turns a :matches key into an anchored regexp: '*' matches
// as little as it can, '?' one character, '\' escapes (RFC 5228 2.7.1).
func globToRegex(k string) string {
	var b strings.Builder
	b.WriteString("(?s)^")
	for i := 0; i < len(k); i++ {
		switch c := k[i]; c {
		case '*':
			b.WriteString("(.*?)")
		case '?':
			b.WriteString("(.)")
		case '\\':
			if i+1 < len(k) {
				i++
				b.WriteString(regexp.QuoteMeta(k[i : i+1]))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// compare orders a and b under a comparator (RFC 4790 9).
func compare(cmp, a, b string) int {
	switch cmp {
	case "i;octet":
		return strings.Compare(a, b)
	case "i;ascii-numeric":
		return compareNumeric(a, b)
	}
	return strings.Compare(lowerASCII(a), lowerASCII(b))
}

// compareNumeric compares the leading digits of a and b as unbounded
// numbers; a string without leading digits is positive infinity (RFC 4790 9.1).
func compareNumeric(a, b string) int {
	da, db := leadingDigits(a), leadingDigits(b)
	switch {
	case da == "" && db == "":
		return 0
	case da == "":
		return 1
	case db == "":
		return -1
	}
	da, db = strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
	if len(da) != len(db) {
		if len(da) < len(db) {
			return -1
		}
		return 1
	}
	return strings.Compare(da, db)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

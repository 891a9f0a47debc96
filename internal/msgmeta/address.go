package msgmeta

import "strings"

// Address lists are parsed here rather than with net/mail, which refuses
// or flattens what IMAP must report: groups (RFC 5322 §3.4), source routes
// and comments anywhere (the obsolete syntax of RFC 5322 §4.4).
//
// In an address list, a group is a start marker (Address{Mailbox: name},
// no Host) and an end marker (Address{}), as the ENVELOPE has them (RFC
// 3501 §7.4.2, RFC 9051 §7.5.2: "(NIL NIL "group" NIL)" … "(NIL NIL NIL
// NIL)"). A source route is kept in ADL ("@a,@b").

// IsGroupStart reports whether a is the start marker of a group; its
// Mailbox is the group's name.
func (a Address) IsGroupStart() bool { return a.Host == "" && a.Mailbox != "" }

// IsGroupEnd reports whether a is the end marker of a group.
func (a Address) IsGroupEnd() bool { return a == Address{} }

type tokKind uint8

const (
	tokAtom    tokKind = iota // atom, or domain literal "[...]"
	tokQuoted                 // quoted string, unquoted
	tokComment                // comment, without its parentheses
	tokSpecial                // one of < > : ; @ , .
)

type token struct {
	kind tokKind
	text string
	sp   bool // white space or a comment came before it
}

// tokenize splits a header value into RFC 5322 §3.2 lexical tokens. It
// accepts anything: an unclosed quote or comment ends at the end.
func tokenize(s string) []token {
	var out []token
	sp := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			sp = true
			i++
			continue
		case c == '"':
			var b strings.Builder
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				if s[i] != '\r' && s[i] != '\n' {
					b.WriteByte(s[i])
				}
			}
			i++
			out = append(out, token{kind: tokQuoted, text: b.String(), sp: sp})
		case c == '(':
			var b strings.Builder
			depth := 1
			for i++; i < len(s) && depth > 0; i++ {
				switch s[i] {
				case '\\':
					if i+1 < len(s) {
						i++
					}
				case '(':
					depth++
				case ')':
					depth--
					if depth == 0 {
						continue
					}
				}
				b.WriteByte(s[i])
			}
			out = append(out, token{kind: tokComment, text: strings.TrimSpace(b.String()), sp: sp})
			sp = true
			continue
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			out = append(out, token{kind: tokAtom, text: s[i : i+j+1], sp: sp})
			i += j + 1
		case strings.IndexByte("<>:;@,.", c) >= 0:
			out = append(out, token{kind: tokSpecial, text: s[i : i+1], sp: sp})
			i++
		case c == ')' || c == ']' || c == '\\':
			i++ // stray: dropped
			continue
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n\"()[]<>:;@,.\\", s[j]) < 0 {
				j++
			}
			out = append(out, token{kind: tokAtom, text: s[i:j], sp: sp})
			i = j
		}
		sp = false
	}
	return out
}

func (t token) is(special string) bool { return t.kind == tokSpecial && t.text == special }

// parseAddressList parses an address list (RFC 5322 §3.4 and §4.4),
// leniently: what is not an address is skipped. At most max entries are
// returned (group markers included).
func parseAddressList(s string, max int) []Address {
	toks := tokenize(s)
	var out []Address
	inGroup := false
	emit := func(a Address) {
		if limit := max - boolInt(inGroup); len(out) < limit {
			out = append(out, a)
		}
	}
	i := 0
	for i < len(toks) && len(out) < max-boolInt(inGroup) {
		if toks[i].is(",") || toks[i].kind == tokComment {
			i++
			continue
		}
		j := i
		for j < len(toks) && !toks[j].is("<") && !toks[j].is(":") && !toks[j].is(",") && !toks[j].is(";") {
			j++
		}
		switch {
		case j < len(toks) && toks[j].is(":") && !inGroup:
			name := phrase(toks[i:j])
			if name == "" {
				name = " " // a group with no name still needs a start marker
			}
			emit(Address{Mailbox: name})
			inGroup = true
			i = j + 1
			continue
		case j < len(toks) && toks[j].is(":"):
			// A colon inside a group that is not a source route: skip it.
			i = j + 1
			continue
		case j < len(toks) && toks[j].is("<"):
			a, next := angleAddr(toks, j+1)
			a.Name = phrase(toks[i:j])
			if a.Host != "" {
				emit(a)
			}
			i = next
		default:
			if a, ok := addrSpec(toks[i:j]); ok {
				if a.Name == "" {
					a.Name = trailingComment(toks[i:j])
				}
				emit(a)
			}
			i = j
		}
		if i < len(toks) && toks[i].is(";") {
			if inGroup {
				out = append(out, Address{}) // room kept by emit
				inGroup = false
			}
			i++
		}
	}
	if inGroup {
		out = append(out, Address{}) // unterminated group
	}
	return out
}

// angleAddr parses what follows "<": an optional source route (obs-route,
// RFC 5322 §4.4) and an addr-spec, up to ">". It returns the index after.
func angleAddr(toks []token, i int) (Address, int) {
	end := i
	for end < len(toks) && !toks[end].is(">") {
		end++
	}
	inner := toks[i:end]
	var a Address
	// obs-route = obs-domain-list ":"; it starts with "@" (after optional commas).
	k := 0
	for k < len(inner) && (inner[k].is(",") || inner[k].kind == tokComment) {
		k++
	}
	if k < len(inner) && inner[k].is("@") {
		c := k
		for c < len(inner) && !inner[c].is(":") {
			c++
		}
		if c < len(inner) {
			var route strings.Builder
			for _, t := range inner[k:c] {
				if t.kind != tokComment {
					route.WriteString(t.text)
				}
			}
			a.ADL = strings.Trim(route.String(), ",")
			inner = inner[c+1:]
		}
	}
	if spec, ok := addrSpec(inner); ok {
		a.Mailbox, a.Host = spec.Mailbox, spec.Host
	}
	if end < len(toks) {
		end++
	}
	return a, end
}

// addrSpec parses local-part "@" domain, comments and white space
// ignored; the local part is before the last "@".
func addrSpec(toks []token) (Address, bool) {
	at := -1
	for k, t := range toks {
		if t.is("@") {
			at = k
		}
	}
	if at < 0 {
		return Address{}, false
	}
	local, host := joinTokens(toks[:at]), joinTokens(toks[at+1:])
	if local == "" || host == "" {
		return Address{}, false
	}
	return Address{Mailbox: local, Host: host}, true
}

// joinTokens concatenates the words and dots of a local part or domain.
func joinTokens(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != tokComment && !t.is("@") {
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// trailingComment returns the last comment of a bare addr-spec
// ("user@host (Name)"), the old way of naming a mailbox.
func trailingComment(toks []token) string {
	for k := len(toks) - 1; k >= 0; k-- {
		if toks[k].kind == tokComment {
			return decodeWords(toks[k].text)
		}
	}
	return ""
}

// phrase returns a display name: its words separated by single spaces
// (a "." of obs-phrase kept as written), RFC 2047 encoded words decoded.
func phrase(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind == tokComment {
			continue
		}
		if b.Len() > 0 && t.sp {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return strings.ToValidUTF8(decodeWords(b.String()), "\uFFFD")
}

// formatAddresses renders an address list for SEARCH FROM/TO/CC/BCC,
// which match the envelope's address fields (RFC 3501 §6.4.4): "Name
// <mailbox@host>" each, groups as "name: ...;".
func formatAddresses(l []Address) string {
	var b strings.Builder
	for _, a := range l {
		switch {
		case a.IsGroupEnd():
			b.WriteString(";")
			continue
		case b.Len() > 0 && !strings.HasSuffix(b.String(), ": "):
			b.WriteString(", ")
		}
		switch {
		case a.IsGroupStart():
			b.WriteString(strings.TrimSpace(a.Mailbox) + ": ")
		case a.Name != "":
			b.WriteString(a.Name + " <" + a.Mailbox + "@" + a.Host + ">")
		default:
			b.WriteString(a.Mailbox + "@" + a.Host)
		}
	}
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

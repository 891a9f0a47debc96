package sieve

import (
	"strings"
)

// tag arguments: what follows a tag.
const (
	tagAlone  = -1
	tagString = int(argString)
	tagList   = int(argList)
	tagNumber = int(argNumber)
)

// spec is what a command or test accepts.
type spec struct {
	ext    string         // extension that must be required ("" = core)
	test   bool           // a test, not a command
	tags   map[string]int // tag → tagAlone or the kind of its argument
	pos    []argKind      // positional arguments
	minPos int            // the first len(pos)-minPos may be omitted
	tests  int            // 0 none, 1 exactly one, 2 one or more
	block  bool
}

// Tag sets shared by the match tests (RFC 5228 2.7).
var (
	matchTags = map[string]int{"is": tagAlone, "contains": tagAlone, "matches": tagAlone,
		"regex": tagAlone, "count": tagString, "value": tagString, "comparator": tagString}
	addrTags = map[string]int{"all": tagAlone, "localpart": tagAlone, "domain": tagAlone,
		"user": tagAlone, "detail": tagAlone}
)

func merge(sets ...map[string]int) map[string]int {
	m := map[string]int{}
	for _, s := range sets {
		for k, v := range s {
			m[k] = v
		}
	}
	return m
}

var specs = map[string]spec{
	// Control (RFC 5228 3).
	"if":    {tests: 1, block: true},
	"elsif": {tests: 1, block: true},
	"else":  {block: true},
	"stop":  {},
	// Actions (RFC 5228 4, RFC 3894 copy, RFC 5232 :flags, RFC 5490 :create).
	"keep":     {tags: map[string]int{"flags": tagList}},
	"discard":  {},
	"redirect": {tags: map[string]int{"copy": tagAlone}, pos: []argKind{argString}, minPos: 1},
	"fileinto": {ext: "fileinto", tags: map[string]int{"copy": tagAlone, "flags": tagList, "create": tagAlone},
		pos: []argKind{argString}, minPos: 1},
	"reject":  {ext: "reject", pos: []argKind{argString}, minPos: 1},
	"ereject": {ext: "ereject", pos: []argKind{argString}, minPos: 1},
	// RFC 5230 4, RFC 6131 :seconds.
	"vacation": {ext: "vacation", tags: map[string]int{"days": tagNumber, "seconds": tagNumber,
		"subject": tagString, "from": tagString, "addresses": tagList, "mime": tagAlone, "handle": tagString},
		pos: []argKind{argString}, minPos: 1},
	// RFC 5232 imap4flags.
	"setflag":    {ext: "imap4flags", pos: []argKind{argString, argList}, minPos: 1},
	"addflag":    {ext: "imap4flags", pos: []argKind{argString, argList}, minPos: 1},
	"removeflag": {ext: "imap4flags", pos: []argKind{argString, argList}, minPos: 1},
	// RFC 5229 variables.
	"set": {ext: "variables", tags: map[string]int{"lower": tagAlone, "upper": tagAlone,
		"lowerfirst": tagAlone, "upperfirst": tagAlone, "quotewildcard": tagAlone,
		"quoteregex": tagAlone, "length": tagAlone}, pos: []argKind{argString, argString}, minPos: 2},
	// RFC 6609 include.
	"include": {ext: "include", tags: map[string]int{"personal": tagAlone, "global": tagAlone,
		"once": tagAlone, "optional": tagAlone}, pos: []argKind{argString}, minPos: 1},
	"return": {ext: "include"},
	"global": {ext: "include", pos: []argKind{argList}, minPos: 1},

	// Tests (RFC 5228 5).
	"address": {test: true, tags: merge(matchTags, addrTags, map[string]int{"index": tagNumber, "last": tagAlone}),
		pos: []argKind{argList, argList}, minPos: 2},
	"envelope": {ext: "envelope", test: true, tags: merge(matchTags, addrTags), pos: []argKind{argList, argList}, minPos: 2},
	"header": {test: true, tags: merge(matchTags, map[string]int{"index": tagNumber, "last": tagAlone}),
		pos: []argKind{argList, argList}, minPos: 2},
	"exists": {test: true, pos: []argKind{argList}, minPos: 1},
	"size":   {test: true, tags: map[string]int{"over": tagAlone, "under": tagAlone}, pos: []argKind{argNumber}, minPos: 1},
	"allof":  {test: true, tests: 2},
	"anyof":  {test: true, tests: 2},
	"not":    {test: true, tests: 1},
	"true":   {test: true},
	"false":  {test: true},
	// RFC 5173 body.
	"body": {ext: "body", test: true, tags: merge(matchTags, map[string]int{"raw": tagAlone,
		"content": tagList, "text": tagAlone}), pos: []argKind{argList}, minPos: 1},
	// RFC 5229 string.
	"string": {ext: "variables", test: true, tags: matchTags, pos: []argKind{argList, argList}, minPos: 2},
	// RFC 5260 date and index.
	"date": {ext: "date", test: true, tags: merge(matchTags, map[string]int{"zone": tagString,
		"originalzone": tagAlone, "index": tagNumber, "last": tagAlone}),
		pos: []argKind{argString, argString, argList}, minPos: 3},
	"currentdate": {ext: "date", test: true, tags: merge(matchTags, map[string]int{"zone": tagString}),
		pos: []argKind{argString, argList}, minPos: 2},
	// RFC 5232 hasflag.
	"hasflag": {ext: "imap4flags", test: true, tags: matchTags, pos: []argKind{argList, argList}, minPos: 1},
	// RFC 5490 mailboxexists.
	"mailboxexists": {ext: "mailbox", test: true, pos: []argKind{argList}, minPos: 1},
}

// args is a node's arguments sorted into tags and positional ones.
type args struct {
	tags map[string]Arg // the tag's argument, or the tag itself
	pos  []Arg
}

func (a args) has(tag string) bool { _, ok := a.tags[tag]; return ok }

func (a args) str(tag string) string {
	if v, ok := a.tags[tag]; ok && len(v.Strs) > 0 {
		return v.Strs[0]
	}
	return ""
}

// check validates every node against its spec and the require list.
func (s *Script) check() error {
	return s.checkBlock(s.Commands, false)
}

func (s *Script) checkBlock(cmds []*Node, _ bool) error {
	prevIf := false
	for _, c := range cmds {
		if err := s.checkNode(c, false); err != nil {
			return err
		}
		if (c.Name == "elsif" || c.Name == "else") && !prevIf {
			return errf(c.Line, "%s without if", c.Name)
		}
		prevIf = c.Name == "if" || c.Name == "elsif"
		if c.Block != nil {
			if err := s.checkBlock(c.Block, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Script) checkNode(n *Node, wantTest bool) error {
	sp, ok := specs[n.Name]
	if !ok || sp.test != wantTest {
		kind := "command"
		if wantTest {
			kind = "test"
		}
		return errf(n.Line, "unknown %s %q", kind, n.Name)
	}
	if sp.ext != "" && !s.Requires[sp.ext] {
		return errf(n.Line, "%s needs require \"%s\"", n.Name, sp.ext)
	}
	if s.Requires["encoded-character"] {
		if err := decodeEncoded(n); err != nil {
			return err
		}
	}
	a, err := s.sortArgs(n, sp)
	if err != nil {
		return err
	}
	if err := s.checkTags(n, a); err != nil {
		return err
	}
	n.a = a
	switch {
	case sp.tests == 0 && len(n.Tests) > 0:
		return errf(n.Line, "%s takes no test", n.Name)
	case sp.tests == 1 && len(n.Tests) != 1:
		return errf(n.Line, "%s takes one test", n.Name)
	case sp.tests == 2 && len(n.Tests) == 0:
		return errf(n.Line, "%s takes a list of tests", n.Name)
	case sp.block && n.Block == nil:
		return errf(n.Line, "%s needs a block", n.Name)
	case !sp.block && n.Block != nil:
		return errf(n.Line, "%s takes no block", n.Name)
	}
	for _, t := range n.Tests {
		if err := s.checkNode(t, true); err != nil {
			return err
		}
	}
	return nil
}

// sortArgs splits a node's arguments by its spec.
func (s *Script) sortArgs(n *Node, sp spec) (args, error) {
	a := args{tags: map[string]Arg{}}
	for i := 0; i < len(n.Args); i++ {
		arg := n.Args[i]
		if arg.Kind != argTag {
			a.pos = append(a.pos, arg)
			continue
		}
		if len(a.pos) > 0 {
			return a, errf(n.Line, "%s: tag :%s after positional arguments", n.Name, arg.Tag)
		}
		want, ok := sp.tags[arg.Tag]
		if !ok {
			return a, errf(n.Line, "%s: unknown tag :%s", n.Name, arg.Tag)
		}
		if _, dup := a.tags[arg.Tag]; dup {
			return a, errf(n.Line, "%s: tag :%s given twice", n.Name, arg.Tag)
		}
		if want == tagAlone {
			a.tags[arg.Tag] = arg
			continue
		}
		if i+1 >= len(n.Args) {
			return a, errf(n.Line, "%s: :%s needs an argument", n.Name, arg.Tag)
		}
		v := n.Args[i+1]
		i++
		switch {
		case want == tagNumber && v.Kind == argNumber,
			want == tagList && v.Kind == argList,
			want == tagString && v.Kind == argList && len(v.Strs) == 1 && !v.literal:
			a.tags[arg.Tag] = v
		default:
			return a, errf(n.Line, "%s: wrong argument to :%s", n.Name, arg.Tag)
		}
	}
	if len(a.pos) > len(sp.pos) || len(a.pos) < sp.minPos {
		return a, errf(n.Line, "%s: wrong number of arguments", n.Name)
	}
	kinds := sp.pos[len(sp.pos)-len(a.pos):]
	for i, v := range a.pos {
		ok := kinds[i] == argNumber && v.Kind == argNumber ||
			kinds[i] == argList && v.Kind == argList ||
			kinds[i] == argString && v.Kind == argList && len(v.Strs) == 1 && !v.literal
		if !ok {
			return a, errf(n.Line, "%s: argument %d has the wrong type", n.Name, i+1)
		}
	}
	return a, nil
}

// checkTags checks what the tags say beyond their shape.
func (s *Script) checkTags(n *Node, a args) error {
	count := 0
	for _, t := range []string{"is", "contains", "matches", "regex", "count", "value"} {
		if a.has(t) {
			count++
		}
	}
	if count > 1 {
		return errf(n.Line, "%s: more than one match type", n.Name)
	}
	need := map[string]string{"regex": "regex", "count": "relational", "value": "relational",
		"copy": "copy", "flags": "imap4flags", "create": "mailbox", "detail": "subaddress",
		"user": "subaddress", "index": "index", "last": "index", "seconds": "vacation-seconds"}
	for t, ext := range need {
		if a.has(t) && !s.Requires[ext] {
			return errf(n.Line, ":%s needs require \"%s\"", t, ext)
		}
	}
	if op := a.str("count") + a.str("value"); op != "" && relOp(op) == nil {
		return errf(n.Line, "%s: unknown relational operator %q", n.Name, op)
	}
	if c := a.str("comparator"); a.has("comparator") {
		switch c {
		case "i;octet", "i;ascii-casemap":
		case "i;ascii-numeric":
			if !s.Requires["comparator-i;ascii-numeric"] {
				return errf(n.Line, "comparator %q needs require \"comparator-%s\"", c, c)
			}
		default:
			return errf(n.Line, "unknown comparator %q", c)
		}
	}
	if a.has("regex") {
		for _, p := range a.pos[len(a.pos)-1].Strs {
			if !strings.Contains(p, "${") || !s.Requires["variables"] {
				if _, err := compileRegex(p, false); err != nil {
					return errf(n.Line, "bad regular expression %q: %v", p, err)
				}
			}
		}
	}
	if n.Name == "size" && a.has("over") == a.has("under") {
		return errf(n.Line, "size takes one of :over and :under")
	}
	if n.Name == "set" && !validVarName(a.pos[0].Strs[0]) {
		return errf(n.Line, "set: bad variable name %q", a.pos[0].Strs[0])
	}
	if n.Name == "date" || n.Name == "currentdate" {
		part := a.pos[len(a.pos)-2].Strs[0]
		if _, ok := dateParts[strings.ToLower(part)]; !ok {
			return errf(n.Line, "%s: unknown date part %q", n.Name, part)
		}
	}
	if (a.has("index") || a.has("last")) && (!a.has("index") || a.tags["index"].Num < 1) {
		return errf(n.Line, "%s: :last needs :index, and :index counts from 1", n.Name)
	}
	return nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || !isIdentStart(part[0]) {
			return false
		}
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isIdentStart(c) && !(c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

package sieve

// argKind is the type of one positional or tagged argument.
type argKind int

const (
	argString argKind = iota // a single string
	argList                  // a string list (a single string is a list of one)
	argNumber
	argTag
)

// Arg is one argument of a command or test (RFC 5228 2.6).
type Arg struct {
	Kind    argKind
	Strs    []string
	Num     int64
	Tag     string
	literal bool // a bracketed list, even of one
}

// Node is a command or a test: its name, arguments, tests (for if, allof,
// anyof, not) and block (for if/elsif/else).
type Node struct {
	Name  string
	Args  []Arg
	Tests []*Node
	Block []*Node
	Line  int
	a     args // sorted by check
}

// Script is a parsed, checked script.
type Script struct {
	Commands []*Node
	Requires map[string]bool
}

type parser struct {
	lx   lexer
	tok  token
	reqs map[string]bool
}

// Parse parses and checks a script (RFC 5228 8).
func Parse(src string) (*Script, error) {
	if len(src) > MaxScriptSize {
		return nil, errf(0, "script larger than %d bytes", MaxScriptSize)
	}
	p := &parser{lx: lexer{src: src, line: 1}, reqs: map[string]bool{}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands(0, true)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errf(p.tok.line, "unexpected %s", p.describe())
	}
	s := &Script{Commands: cmds, Requires: p.reqs}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) describe() string {
	switch p.tok.kind {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier " + p.tok.text
	case tTag:
		return "tag :" + p.tok.text
	case tNumber:
		return "number"
	case tString:
		return "string"
	}
	return "'" + p.tok.text + "'"
}

func (p *parser) punct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) expect(s string) error {
	if !p.punct(s) {
		return errf(p.tok.line, "expected '%s', found %s", s, p.describe())
	}
	return p.advance()
}

// commands reads commands until '}' or the end of the script. require is
// allowed only at the start of the script (RFC 5228 3.2).
func (p *parser) commands(depth int, top bool) ([]*Node, error) {
	if depth > maxDepth {
		return nil, errf(p.tok.line, "blocks nested too deeply")
	}
	var out []*Node
	requireOK := top
	for p.tok.kind == tIdent {
		c, err := p.command(depth)
		if err != nil {
			return nil, err
		}
		if c.Name == "require" {
			if !requireOK {
				return nil, errf(c.Line, "require must come before other commands")
			}
			if len(c.Args) != 1 || c.Args[0].Kind != argList || len(c.Tests) > 0 {
				return nil, errf(c.Line, "require takes one string list")
			}
			for _, ext := range c.Args[0].Strs {
				if !supported[ext] {
					return nil, errf(c.Line, "extension %q is not supported", ext)
				}
				p.reqs[ext] = true
			}
			continue
		}
		requireOK = false
		out = append(out, c)
	}
	return out, nil
}

// command = identifier arguments (";" / block)
func (p *parser) command(depth int) (*Node, error) {
	n := &Node{Name: p.tok.text, Line: p.tok.line}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n, depth); err != nil {
		return nil, err
	}
	if p.punct(";") {
		return n, p.advance()
	}
	if !p.punct("{") {
		return nil, errf(p.tok.line, "expected ';' or '{' after %s, found %s", n.Name, p.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	blk, err := p.commands(depth+1, false)
	if err != nil {
		return nil, err
	}
	if err := p.expect("}"); err != nil {
		return nil, err
	}
	if blk == nil {
		blk = []*Node{}
	}
	n.Block = blk
	return n, nil
}

// arguments = *argument [ test / test-list ]
func (p *parser) arguments(n *Node, depth int) error {
	for {
		switch {
		case p.tok.kind == tTag:
			n.Args = append(n.Args, Arg{Kind: argTag, Tag: p.tok.text})
		case p.tok.kind == tNumber:
			n.Args = append(n.Args, Arg{Kind: argNumber, Num: p.tok.num})
		case p.tok.kind == tString:
			n.Args = append(n.Args, Arg{Kind: argList, Strs: []string{p.tok.text}})
		case p.punct("["):
			l, err := p.stringList()
			if err != nil {
				return err
			}
			n.Args = append(n.Args, Arg{Kind: argList, Strs: l, literal: true})
			continue
		case p.tok.kind == tIdent:
			t, err := p.test(depth + 1)
			if err != nil {
				return err
			}
			n.Tests = []*Node{t}
			return nil
		case p.punct("("):
			if err := p.advance(); err != nil {
				return err
			}
			for {
				if p.tok.kind != tIdent {
					return errf(p.tok.line, "expected a test, found %s", p.describe())
				}
				t, err := p.test(depth + 1)
				if err != nil {
					return err
				}
				n.Tests = append(n.Tests, t)
				if p.punct(")") {
					return p.advance()
				}
				if err := p.expect(","); err != nil {
					return err
				}
			}
		default:
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) test(depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, errf(p.tok.line, "tests nested too deeply")
	}
	n := &Node{Name: p.tok.text, Line: p.tok.line}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, p.arguments(n, depth)
}

func (p *parser) stringList() ([]string, error) {
	if err := p.advance(); err != nil { // '['
		return nil, err
	}
	var l []string
	for {
		if p.tok.kind != tString {
			return nil, errf(p.tok.line, "expected a string in the list, found %s", p.describe())
		}
		if len(l) >= maxStringList {
			return nil, errf(p.tok.line, "string list longer than %d", maxStringList)
		}
		l = append(l, p.tok.text)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.punct("]") {
			return l, p.advance()
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

// supported lists the extensions require accepts.
var supported = map[string]bool{
	"fileinto": true, "reject": true, "ereject": true, "envelope": true,
	"encoded-character": true, "imap4flags": true, "copy": true, "body": true,
	"variables": true, "vacation": true, "vacation-seconds": true, "relational": true,
	"comparator-i;ascii-numeric": true, "comparator-i;octet": true,
	"comparator-i;ascii-casemap": true, "subaddress": true, "date": true,
	"index": true, "mailbox": true, "regex": true, "include": true,
}

// Capabilities is the SIEVE capability string (RFC 5804 1.7).
func Capabilities() string {
	return "fileinto reject ereject envelope encoded-character imap4flags copy body variables " +
		"vacation vacation-seconds relational comparator-i;ascii-numeric subaddress date index " +
		"mailbox regex include"
}

// lowerASCII folds A-Z only (i;ascii-casemap, RFC 4790 9.2).
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

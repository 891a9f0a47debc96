package sieve

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Limits bound one run of a script.
type Limits struct {
	MaxSteps     int // commands and tests evaluated (and match comparisons)
	MaxActions   int
	MaxRedirects int
	MaxIncludes  int // include commands run, over all depths
	MaxVariables int
}

// DefaultLimits are used for zero fields.
var DefaultLimits = Limits{MaxSteps: 20000, MaxActions: 32, MaxRedirects: 4, MaxIncludes: 8, MaxVariables: 128}

// maxIncludeDepth bounds nested includes (RFC 6609 3.2 lets us).
const maxIncludeDepth = 4

// Envelope is the SMTP envelope of the message (RFC 5228 5.4).
type Envelope struct {
	From string // "" for <>
	To   string // the recipient this delivery is for
	Auth string // the authenticated sender, if any
}

// Env is what a run may ask its surroundings.
type Env struct {
	Envelope Envelope
	Now      time.Time
	Limits   Limits
	// MailboxExists answers mailboxexists (RFC 5490 3.1); nil: none exist.
	MailboxExists func(name string) bool
	// Include returns the source of the user's script name (RFC 6609);
	// an error wrapping ErrNoScript when it does not exist.
	Include func(name string) (string, error)
}

// ErrNoScript is returned by Env.Include for a missing script.
var ErrNoScript = errors.New("no such script")

// ActionKind is what an action does.
type ActionKind int

const (
	ActKeep ActionKind = iota
	ActFileInto
	ActRedirect
	ActDiscard
	ActReject
	ActVacation
)

func (k ActionKind) String() string {
	return [...]string{"keep", "fileinto", "redirect", "discard", "reject", "vacation"}[k]
}

// Action is one thing to do with the message.
type Action struct {
	Kind    ActionKind
	Mailbox string   // fileinto
	Create  bool     // fileinto :create
	Flags   []string // keep and fileinto (imap4flags)
	Addr    string   // redirect
	Copy    bool     // redirect, fileinto :copy
	Reason  string   // reject (ereject too), vacation
	// Vacation is set for ActVacation.
	Vacation *Vacation
}

// Result is what a run decided. The implicit keep, when still in force,
// is the last action (a Keep with the current flags).
type Result struct {
	Actions []Action
}

// run is one evaluation.
type run struct {
	ctx       context.Context
	s         *Script
	env       Env
	msg       *Message
	lim       Limits
	steps     int
	vars      map[string]string
	globals   map[string]bool
	matchVars []string
	flags     []string // the internal flags variable (RFC 5232 3)
	regexps   map[string]*regexp.Regexp
	actions   []Action
	implicit  bool
	redirects int
	includes  int
	included  map[string]bool
	depth     int
}

type signal int

const (
	sigNone signal = iota
	sigStop
	sigReturn
)

// Run evaluates the script against msg. An error (a run-time error or a
// limit) means the caller must fall back to keeping the message.
func (s *Script) Run(ctx context.Context, msg *Message, env Env) (*Result, error) {
	lim := env.Limits
	d := DefaultLimits
	if lim.MaxSteps <= 0 {
		lim.MaxSteps = d.MaxSteps
	}
	if lim.MaxActions <= 0 {
		lim.MaxActions = d.MaxActions
	}
	if lim.MaxRedirects <= 0 {
		lim.MaxRedirects = d.MaxRedirects
	}
	if lim.MaxIncludes <= 0 {
		lim.MaxIncludes = d.MaxIncludes
	}
	if lim.MaxVariables <= 0 {
		lim.MaxVariables = d.MaxVariables
	}
	if env.Now.IsZero() {
		env.Now = time.Now()
	}
	r := &run{ctx: ctx, s: s, env: env, msg: msg, lim: lim, vars: map[string]string{},
		globals: map[string]bool{}, regexps: map[string]*regexp.Regexp{}, implicit: true,
		included: map[string]bool{}}
	if _, err := r.exec(s, s.Commands); err != nil {
		return nil, err
	}
	if r.implicit {
		r.actions = append(r.actions, Action{Kind: ActKeep, Flags: r.flags})
	}
	return &Result{Actions: r.actions}, nil
}

func (r *run) step() error {
	r.steps++
	if r.steps > r.lim.MaxSteps {
		return errf(0, "script ran more than %d steps", r.lim.MaxSteps)
	}
	if r.steps%64 == 0 {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("sieve: %w", err)
		}
	}
	return nil
}

// exec runs a block of commands of script s.
func (r *run) exec(s *Script, cmds []*Node) (signal, error) {
	prev := r.s
	r.s = s
	defer func() { r.s = prev }()
	skipElse := false
	for _, c := range cmds {
		if err := r.step(); err != nil {
			return sigNone, err
		}
		switch c.Name {
		case "if", "elsif", "else":
			if c.Name == "if" {
				skipElse = false
			}
			if skipElse {
				continue
			}
			ok := true
			if c.Name != "else" {
				var err error
				if ok, err = r.test(c.Tests[0]); err != nil {
					return sigNone, err
				}
			}
			if !ok {
				continue
			}
			skipElse = true
			sig, err := r.exec(s, c.Block)
			if sig != sigNone || err != nil {
				return sig, err
			}
			continue
		case "stop":
			return sigStop, nil
		case "return":
			return sigReturn, nil
		}
		skipElse = false
		sig, err := r.command(c)
		if sig != sigNone || err != nil {
			return sig, err
		}
	}
	return sigNone, nil
}

// errAt gives an error the line of n.
func errAt(n *Node, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Line == 0 {
		return &Error{Line: n.Line, Msg: e.Msg}
	}
	return err
}

func (r *run) command(c *Node) (signal, error) {
	a := c.a
	switch c.Name {
	case "keep":
		r.implicit = false
		return sigNone, r.add(c, Action{Kind: ActKeep, Flags: r.actionFlags(a)})
	case "discard":
		r.implicit = false
		return sigNone, r.add(c, Action{Kind: ActDiscard})
	case "fileinto":
		mb := r.expand(a.pos[0].Strs[0])
		if !a.has("copy") {
			r.implicit = false
		}
		return sigNone, r.add(c, Action{Kind: ActFileInto, Mailbox: mb, Create: a.has("create"),
			Copy: a.has("copy"), Flags: r.actionFlags(a)})
	case "redirect":
		addr := strings.TrimSpace(r.expand(a.pos[0].Strs[0]))
		if !validRedirect(addr) {
			return sigNone, errf(c.Line, "redirect: bad address %q", addr)
		}
		r.redirects++
		if r.redirects > r.lim.MaxRedirects {
			return sigNone, errf(c.Line, "more than %d redirects", r.lim.MaxRedirects)
		}
		if !a.has("copy") {
			r.implicit = false
		}
		return sigNone, r.add(c, Action{Kind: ActRedirect, Addr: addr, Copy: a.has("copy")})
	case "reject", "ereject":
		r.implicit = false
		return sigNone, r.add(c, Action{Kind: ActReject, Reason: r.expand(a.pos[0].Strs[0])})
	case "vacation":
		v, err := r.vacation(a)
		if err != nil {
			return sigNone, errAt(c, err)
		}
		return sigNone, r.add(c, Action{Kind: ActVacation, Reason: v.Reason, Vacation: v})
	case "setflag", "addflag", "removeflag":
		return sigNone, errAt(c, r.flagCommand(c.Name, a))
	case "set":
		return sigNone, errAt(c, r.set(a))
	case "global":
		for _, n := range a.pos[0].Strs {
			r.globals[strings.ToLower(r.expand(n))] = true
		}
		return sigNone, nil
	case "include":
		return r.include(c)
	}
	return sigNone, errf(c.Line, "unknown command %s", c.Name)
}

// add records an action, checking the combinations RFC 5228 4, RFC 5429
// 2.1 and RFC 5230 4.7 forbid.
func (r *run) add(c *Node, act Action) error {
	for _, b := range r.actions {
		switch {
		case act.Kind == ActReject && b.Kind == ActReject:
			return errf(c.Line, "more than one reject")
		case act.Kind == ActVacation && b.Kind == ActVacation:
			return errf(c.Line, "more than one vacation")
		case act.Kind == ActReject && b.Kind == ActVacation, act.Kind == ActVacation && b.Kind == ActReject:
			return errf(c.Line, "reject and vacation cannot both run")
		case act.Kind == ActReject && (b.Kind == ActKeep || b.Kind == ActFileInto || b.Kind == ActRedirect),
			b.Kind == ActReject && (act.Kind == ActKeep || act.Kind == ActFileInto || act.Kind == ActRedirect):
			return errf(c.Line, "reject cannot be combined with keep, fileinto or redirect")
		}
		// Duplicates are done once (RFC 5228 2.10.3, 4.2).
		if act.Kind == b.Kind && act.Mailbox == b.Mailbox && act.Addr == b.Addr &&
			(act.Kind == ActFileInto || act.Kind == ActRedirect || act.Kind == ActDiscard) {
			return nil
		}
	}
	if len(r.actions) >= r.lim.MaxActions {
		return errf(c.Line, "more than %d actions", r.lim.MaxActions)
	}
	r.actions = append(r.actions, act)
	return nil
}

// validRedirect accepts one plain address local@domain.
func validRedirect(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && len(a) <= 254 && !strings.ContainsAny(a, " \t\r\n<>,;\"")
}

// include runs a personal script (RFC 6609 3.2).
func (r *run) include(c *Node) (signal, error) {
	a := c.a
	name := r.expand(a.pos[0].Strs[0])
	if a.has("global") {
		return sigNone, errf(c.Line, "include :global is not supported: only personal scripts")
	}
	if a.has("once") && r.included[name] {
		return sigNone, nil
	}
	r.includes++
	if r.includes > r.lim.MaxIncludes || r.depth >= maxIncludeDepth {
		return sigNone, errf(c.Line, "too many or too deep includes")
	}
	if r.env.Include == nil {
		return sigNone, errf(c.Line, "include: no scripts")
	}
	src, err := r.env.Include(name)
	if errors.Is(err, ErrNoScript) && a.has("optional") {
		return sigNone, nil
	}
	if err != nil {
		return sigNone, errf(c.Line, "include %q: %v", name, err)
	}
	s, err := Parse(src)
	if err != nil {
		return sigNone, errf(c.Line, "include %q: %v", name, err)
	}
	r.included[name] = true
	// Each script has its own variables; globals are shared (RFC 6609 3.3).
	saved := r.vars
	r.vars = map[string]string{}
	for g := range r.globals {
		if v, ok := saved[g]; ok {
			r.vars[g] = v
		}
	}
	r.depth++
	sig, err := r.exec(s, s.Commands)
	r.depth--
	for g := range r.globals {
		if v, ok := r.vars[g]; ok {
			saved[g] = v
		}
	}
	r.vars = saved
	if sig == sigReturn {
		sig = sigNone
	}
	return sig, err
}

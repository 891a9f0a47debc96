package sieve

import (
	"strings"
)

// test evaluates a test (RFC 5228 5).
func (r *run) test(t *Node) (bool, error) {
	if err := r.step(); err != nil {
		return false, err
	}
	ok, err := r.test1(t)
	return ok, errAt(t, err)
}

func (r *run) test1(t *Node) (bool, error) {
	a := t.a
	switch t.Name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := r.test(t.Tests[0])
		return !ok, err
	case "allof", "anyof":
		// Short-circuit (RFC 5228 5.2, 5.3).
		want := t.Name == "anyof"
		for _, sub := range t.Tests {
			ok, err := r.test(sub)
			if err != nil || ok == want {
				return ok, err
			}
		}
		return !want, nil
	case "exists":
		for _, h := range a.pos[0].Strs {
			if len(r.msg.Header(r.expand(h))) == 0 {
				return false, nil
			}
		}
		return true, nil
	case "size":
		n := a.pos[0].Num
		if a.has("over") {
			return r.msg.Size() > n, nil
		}
		if a.has("under") {
			return r.msg.Size() < n, nil
		}
		return false, errf(t.Line, "size needs :over or :under")
	case "header":
		return r.match(newMatcher(a), r.headerValues(a, a.pos[0].Strs), a.pos[1].Strs)
	case "address":
		var vals []string
		for _, v := range r.headerValues(a, a.pos[0].Strs) {
			for _, addr := range addresses(v) {
				if p, ok := addressPart(a, addr); ok {
					vals = append(vals, p)
				}
			}
		}
		return r.match(newMatcher(a), vals, a.pos[1].Strs)
	case "envelope":
		var vals []string
		for _, part := range a.pos[0].Strs {
			var v string
			switch strings.ToLower(r.expand(part)) {
			case "from":
				v = r.env.Envelope.From
			case "to":
				v = r.env.Envelope.To
			case "auth":
				v = r.env.Envelope.Auth
				if v == "" {
					continue
				}
			default:
				return false, errf(t.Line, "envelope part %q is not known", part)
			}
			if v == "" { // <>: only :all sees it (RFC 5228 5.4)
				if !a.has("localpart") && !a.has("domain") && !a.has("user") && !a.has("detail") {
					vals = append(vals, "")
				}
				continue
			}
			if p, ok := addressPart(a, v); ok {
				vals = append(vals, p)
			}
		}
		return r.match(newMatcher(a), vals, a.pos[1].Strs)
	case "body":
		types := []string{"text"} // :text is the default (RFC 5173 5.2)
		if a.has("content") {
			types = a.tags["content"].Strs
		}
		return r.match(newMatcher(a), r.msg.body(a.has("raw"), types, !a.has("content")), a.pos[0].Strs)
	case "string":
		var vals []string
		for _, s := range a.pos[0].Strs {
			v := r.expand(s)
			if newMatcher(a).typ == "count" && v == "" {
				continue // RFC 5229 5: empty strings are not counted
			}
			vals = append(vals, v)
		}
		return r.match(newMatcher(a), vals, a.pos[1].Strs)
	case "hasflag":
		flags := r.flags
		if len(a.pos) == 2 {
			flags = nil
			for _, v := range a.pos[0].Strs {
				flags = append(flags, splitFlags(r.getVar(v))...)
			}
		}
		return r.match(newMatcher(a), flags, a.pos[len(a.pos)-1].Strs)
	case "mailboxexists":
		for _, mb := range a.pos[0].Strs {
			if r.env.MailboxExists == nil || !r.env.MailboxExists(r.expand(mb)) {
				return false, nil
			}
		}
		return true, nil
	case "date", "currentdate":
		return r.dateTest(t.Name, a)
	}
	return false, errf(t.Line, "unknown test %s", t.Name)
}

// headerValues returns the values of the named fields, or with :index the
// one at that position (RFC 5260 6).
func (r *run) headerValues(a args, names []string) []string {
	var vals []string
	for _, h := range names {
		vs := r.msg.Header(r.expand(h))
		if a.has("index") {
			i := int(a.tags["index"].Num)
			if i > len(vs) {
				continue
			}
			if a.has("last") {
				vs = vs[len(vs)-i : len(vs)-i+1]
			} else {
				vs = vs[i-1 : i]
			}
		}
		vals = append(vals, vs...)
	}
	return vals
}

// addressPart picks a part of addr (RFC 5228 2.7.4, RFC 5233 4).
func addressPart(a args, addr string) (string, bool) {
	local, domain := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], addr[i+1:]
	}
	switch {
	case a.has("localpart"):
		return local, true
	case a.has("domain"):
		return domain, true
	case a.has("user"):
		u, _, _ := strings.Cut(local, "+")
		return u, true
	case a.has("detail"):
		_, d, ok := strings.Cut(local, "+")
		return d, ok
	}
	return addr, true
}

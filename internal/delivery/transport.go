// Package delivery is the remote SMTP transport of the queue: it resolves
// a destination domain (MX, implicit MX, null MX, address literals, or a
// configured smarthost route), connects with opportunistic STARTTLS, and
// sends one message to the recipients of that domain in one transaction,
// reporting a result per recipient. It knows nothing of the store: the
// queue runner decides what to retry and when to bounce.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// Transport delivers messages to remote SMTP servers. It is safe for
// concurrent use; connections are limited per host and in total, and idle
// connections are reused for the next message to the same host.
type Transport struct {
	cfg   Config
	conns *conns
}

// New checks cfg, fills in defaults and returns a Transport. Close it to
// close its idle connections.
func New(cfg Config) (*Transport, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Transport{cfg: cfg, conns: newConns(cfg.MaxConnsPerHost, cfg.MaxConnsTotal, cfg.Pool)}, nil
}

// Close closes idle connections (with QUIT) and makes Deliver fail
// temporarily from then on. Deliveries in progress finish first if their
// context allows; their connections are then closed instead of kept.
func (t *Transport) Close() error {
	t.conns.close()
	return nil
}

// Deliver makes one attempt to deliver m and returns one result per
// recipient, in the order of m.Rcpts. It never returns fewer results.
// Cancelling ctx aborts the attempt (TempFail); a message whose final dot
// was already sent may then have been delivered anyway (a duplicate on
// retry is acceptable, a loss is not).
func (t *Transport) Deliver(ctx context.Context, m *Message) []RcptResult {
	res := make([]RcptResult, len(m.Rcpts))
	for i, r := range m.Rcpts {
		res[i].Rcpt = r.Addr
	}
	fillAll := func(f *failure) []RcptResult {
		for i := range res {
			if res[i].Status == 0 {
				res[i] = f.result(m.Rcpts[i].Addr, t.cfg.Clock.Now())
			}
		}
		return res
	}
	if m.Open == nil {
		return fillAll(tempFail("4.3.0", "message has no body", errors.New("delivery: Message.Open is nil")))
	}
	// Check the envelope before any network work.
	env, f := t.envelope(m, res)
	if f != nil {
		fillAll(f)
	}
	if f != nil || len(env.rcpts) == 0 {
		t.logResults(env.domain, nil, res)
		return res
	}
	domain := env.domain
	route := t.cfg.route(domain)
	var targets []target
	if route != nil {
		targets, f = t.resolveRoute(ctx, route)
	} else {
		targets, f = t.resolveMX(ctx, domain)
	}
	if f != nil {
		fillAll(f)
		t.logResults(domain, nil, res)
		return res
	}
	t.attempt(ctx, m, env, domain, route, targets, res)
	return fillAll(tempFail("4.4.1", "no attempt was made", nil))
}

// envelope is the validated SMTP form of a message's addresses.
type envelope struct {
	domain string // the recipients' domain: lower-case A-labels, or a literal
	from   string
	utf8   bool  // SMTPUTF8 is needed
	rcpts  []int // indexes into Message.Rcpts of valid recipients
	addrs  []string
}

// envelope validates the sender and recipients (mailaddr.Parse: IDNA
// domains become A-labels). An invalid recipient is a PermFail for that
// recipient alone; an invalid sender fails them all, and recipients of
// different domains fail them all temporarily.
func (t *Transport) envelope(m *Message, res []RcptResult) (envelope, *failure) {
	env := envelope{utf8: m.SMTPUTF8}
	if m.From != "" && m.From != "<>" {
		a, err := mailaddr.Parse(m.From)
		if err != nil {
			return env, permFail("5.1.7", fmt.Sprintf("invalid sender address %q", sanitize(m.From)), err)
		}
		env.from = a.String()
		env.utf8 = env.utf8 || !a.IsASCII()
	}
	for i, r := range m.Rcpts {
		a, err := mailaddr.Parse(r.Addr)
		if err != nil {
			res[i] = permFail("5.1.3", fmt.Sprintf("invalid recipient address %q", sanitize(r.Addr)), err).result(r.Addr, t.cfg.Clock.Now())
			continue
		}
		if len(env.rcpts) == 0 {
			env.domain = a.Domain
		} else if a.Domain != env.domain {
			// A caller bug: the queue groups recipients by domain.
			return env, tempFail("4.3.5", "cannot deliver this message as given",
				fmt.Errorf("delivery: recipients of one message must share a domain: %s and %s", env.domain, a.Domain))
		}
		env.utf8 = env.utf8 || !a.IsASCII()
		env.rcpts = append(env.rcpts, i)
		env.addrs = append(env.addrs, a.String())
	}
	return env, nil
}

// attempt tries the targets in order until one takes the transaction.
// Connection failures, 4xx/5xx greetings and failed STARTTLS move on to
// the next address and host. Hosts whose STARTTLS failed are retried in
// plaintext only after every host failed: we prefer an encrypted path to
// a less preferred MX over a plaintext path to a more preferred one, and
// prefer plaintext to not delivering at all (as other MTAs do for
// opportunistic TLS). Routes that require TLS are never retried in plaintext.
func (t *Transport) attempt(ctx context.Context, m *Message, env envelope, domain string, route *Route, targets []target, res []RcptResult) {
	var last *failure
	var plain []target
	for _, tg := range targets {
		c, tlsFailed, f := t.connect(ctx, tg, route, false)
		if c != nil {
			t.send(ctx, c, m, env, domain, res)
			return
		}
		last = f
		if len(tlsFailed) > 0 && (route == nil || !route.RequireTLS) {
			plain = append(plain, target{host: tg.host, pref: tg.pref, port: tg.port, addrs: tlsFailed})
		}
		if ctx.Err() != nil {
			break
		}
	}
	for _, tg := range plain {
		if ctx.Err() != nil {
			break
		}
		c, _, f := t.connect(ctx, tg, route, true)
		if c != nil {
			t.send(ctx, c, m, env, domain, res)
			return
		}
		last = f
	}
	if last == nil {
		last = tempFail("4.4.1", "no mail server could be tried", ctx.Err())
	}
	if ctx.Err() != nil {
		last = tempFail("4.4.7", "delivery attempt cancelled", ctx.Err())
	}
	for _, i := range env.rcpts {
		res[i] = last.result(m.Rcpts[i].Addr, t.cfg.Clock.Now())
	}
	t.logResults(domain, nil, subset(res, env.rcpts))
}

// send runs the transactions for m on c, fills res, and returns c to the
// pool or closes it.
func (t *Transport) send(ctx context.Context, c *client, m *Message, env envelope, domain string, res []RcptResult) {
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	reusable := t.sendOn(c, m, env, res)
	if !stop() {
		reusable = false // ctx closed the connection
	}
	if reusable && !c.noPool {
		c.lastUse = t.cfg.Clock.Now()
		t.conns.put(c)
	} else if reusable {
		c.quit()
		t.conns.release(c.key)
	} else {
		t.conns.discard(c)
	}
	t.logResults(domain, c, subset(res, env.rcpts))
}

func subset(res []RcptResult, idx []int) []RcptResult {
	out := make([]RcptResult, len(idx))
	for j, i := range idx {
		out[j] = res[i]
	}
	return out
}

// sendOn checks the server's limits, then runs as many transactions as
// needed: one normally; more when the server announces a lower LIMITS
// RCPTMAX (RFC 9422) or answers 452 "too many recipients" to some RCPTs
// while accepting others (RFC 5321 4.5.3.1.10).
func (t *Transport) sendOn(c *client, m *Message, env envelope, res []RcptResult) (reusable bool) {
	now := t.cfg.Clock.Now
	all := func(f *failure) {
		f.host, f.ip = c.host, c.ip
		for _, i := range env.rcpts {
			res[i] = f.result(m.Rcpts[i].Addr, now())
			res[i].TLS = tlsName(c)
		}
	}
	// RFC 6531 3.4: a message that needs SMTPUTF8 must not be downgraded:
	// it bounces when the next hop lacks it.
	if env.utf8 && !c.has("SMTPUTF8") {
		f := permFail("5.6.7", fmt.Sprintf("%s does not support SMTPUTF8, which this message needs", c.host), nil)
		f.code = 553
		all(f)
		return true
	}
	// RFC 1870 6: do not send what the server said it will refuse.
	if max := c.maxSize(); max > 0 && m.Size > max {
		f := permFail("5.3.4", fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes of %s", m.Size, max, c.host), nil)
		f.code = 552
		all(f)
		return true
	}
	if m.EightBit && !c.has("8BITMIME") {
		// RFC 6152 says downgrade or bounce; like most MTAs we send as is
		// and note it (most servers accept 8-bit data regardless).
		t.cfg.Log.Info("8-bit body to a server without 8BITMIME", "event", "delivery-note", "host", c.host, "ip", c.ip.String())
	}
	dsn := c.has("DSN")
	mail := t.mailCmd(c, m, env, dsn)

	pending := append([]int(nil), env.rcpts...)
	rcptOf := map[int]string{}
	for j, i := range env.rcpts {
		rcptOf[i] = env.addrs[j]
	}
	for first := true; len(pending) > 0; first = false {
		n := len(pending)
		if max := c.rcptMax(); max > 0 && n > max {
			n = max
		}
		batch := pending[:n]
		pending = pending[n:]
		cmds := make([]string, len(batch))
		for j, i := range batch {
			cmds[j] = rcptCmd(rcptOf[i], m.Rcpts[i], dsn, env.utf8)
		}
		if !first {
			// Between transactions on one connection (RFC 5321 4.1.1.5).
			if err := c.rset(); err != nil {
				for _, i := range slices.Concat(batch, pending) {
					res[i] = t.outcomeResult(c, m.Rcpts[i].Addr, outcome{err: err}, dsn)
				}
				return false
			}
		}
		outs, ok := c.transact(m.Open, mail, cmds)
		var retry []int
		accepted := false
		for _, o := range outs {
			accepted = accepted || (o.reply != nil && o.reply.Positive())
		}
		for j, i := range batch {
			o := outs[j]
			if ok && accepted && o.reply != nil && o.reply.Code == 452 {
				retry = append(retry, i)
			}
			res[i] = t.outcomeResult(c, m.Rcpts[i].Addr, o, dsn)
		}
		pending = append(retry, pending...)
		if !ok {
			for _, i := range pending {
				res[i] = t.outcomeResult(c, m.Rcpts[i].Addr, outcome{err: errors.New("connection lost before this recipient's transaction")}, dsn)
			}
			return false
		}
	}
	return true
}

func (t *Transport) mailCmd(c *client, m *Message, env envelope, dsn bool) string {
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + env.from + ">")
	if m.Size > 0 && c.has("SIZE") {
		fmt.Fprintf(&b, " SIZE=%d", m.Size)
	}
	if m.EightBit && c.has("8BITMIME") {
		b.WriteString(" BODY=8BITMIME")
	}
	if env.utf8 {
		b.WriteString(" SMTPUTF8")
	}
	if dsn {
		if r := retParam(m.RET); r != "" {
			b.WriteString(" RET=" + r)
		}
		if e := envidParam(m.EnvID); e != "" {
			b.WriteString(" ENVID=" + e)
		}
	}
	return b.String()
}

func rcptCmd(addr string, r Rcpt, dsn, utf8 bool) string {
	s := "RCPT TO:<" + addr + ">"
	if dsn {
		if n := notifyParam(r.Notify); n != "" {
			s += " NOTIFY=" + n
		}
		if o := orcptParam(r.ORcpt, utf8); o != "" {
			s += " ORCPT=" + o
		}
	}
	return s
}

// outcomeResult turns a transaction outcome into a result.
func (t *Transport) outcomeResult(c *client, rcpt string, o outcome, dsn bool) RcptResult {
	r := RcptResult{Rcpt: rcpt, Host: c.host, IP: c.ip, TLS: tlsName(c), PeerDSN: dsn, At: t.cfg.Clock.Now()}
	switch {
	case o.reply != nil:
		r.Status, r.Code, r.Message, r.Remote = statusOf(*o.reply), o.reply.Code, o.reply.Text(), true
		r.Enhanced = enhancedOr(*o.reply)
	case o.local:
		r.Status, r.Code, r.Enhanced, r.Err = TempFail, 451, "4.3.0", o.err
		r.Message = "local error while sending the message"
	default:
		r.Status, r.Code, r.Enhanced, r.Err = TempFail, 451, "4.4.2", o.err
		r.Message = fmt.Sprintf("connection with %s lost: %v", c.host, o.err)
	}
	return r
}

func tlsName(c *client) string {
	if c == nil || c.tls == nil {
		return ""
	}
	v, _ := c.tlsDesc()
	return v
}

// key names a host for the connection limits and the pool: connections
// are interchangeable only for the same host, port and route.
func connKey(tg target, route *Route) string {
	if route == nil {
		return fmt.Sprintf("mx %s %d", tg.host, tg.port)
	}
	return fmt.Sprintf("route %s %d %s %s", route.Host, route.Port, route.Mode, route.Username)
}

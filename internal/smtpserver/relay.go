package smtpserver

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/store"
)

// transaction is one MAIL..DATA.
type transaction struct {
	id       string // in the Received header, the 250 reply and the log
	from     string // reverse-path as given; "" is <>
	fromAddr mailaddr.Address
	opts     smtp.MailOptions
	rcpts    []string // accepted recipients as given

	local      []localRcpt // one per account
	remote     []store.OutRcpt
	localSeen  map[int64]bool
	remoteSeen map[string]bool
}

// localRcpt is one local account that gets the message.
type localRcpt struct {
	target router.LocalTarget
}

func newTransaction(from string, addr mailaddr.Address, opts *smtp.MailOptions) *transaction {
	var b [10]byte
	rand.Read(b[:])
	return &transaction{
		id:         strings.ToLower(base32.StdEncoding.EncodeToString(b[:])),
		from:       from,
		fromAddr:   addr,
		opts:       *opts,
		localSeen:  map[int64]bool{},
		remoteSeen: map[string]bool{},
	}
}

// relaySyntax reports a recipient that other MTAs would route somewhere
// else: several "@", "%" or "!" routing, source routes (security.md 1.5).
func relaySyntax(s string) bool {
	return strings.Count(s, "@") > 1 || strings.ContainsAny(s, "%!:[")
}

// addRecipient applies the relay policy to one RCPT TO and records where it
// goes. RFC 5321 3.6.2 / 7.1: no open relay. On the MX (and for a
// submission client before AUTH, which never gets this far) only addresses
// of our domains are accepted; submission sends anywhere.
func (s *session) addRecipient(to string, opts *smtp.RcptOptions) error {
	tx := s.tx
	authed := s.identity != nil
	addr, res, err := s.resolveRcpt(to)
	if err != nil {
		return err
	}
	switch res.Status {
	case router.NotOurs:
		if !authed {
			s.log.Info("relay attempt", "rcpt", addr.String())
			return errRelayDenied
		}
		s.addRemote(tx, addr, to, opts, false)
	case router.UnknownUser:
		if !authed && addr.HasRelayTrick() {
			return errRelayDenied
		}
		return errUnknownUser
	case router.Disabled:
		return errDisabled
	case router.Deliver:
		rcpt := to
		if !strings.Contains(to, "@") {
			rcpt = addr.String() // "Postmaster": an ORCPT needs an address
		}
		if err := s.addLocal(tx, addr, rcpt, opts, res); err != nil {
			return err
		}
	}
	tx.rcpts = append(tx.rcpts, to)
	return nil
}

// resolveRcpt parses and resolves one RCPT TO argument: an address, or
// "Postmaster" without a domain, which RFC 5321 4.5.1 requires every
// server to accept (go-smtp passes it on since v0.26.0); it goes to the
// postmaster of our primary domain (router.ResolvePostmaster).
func (s *session) resolveRcpt(to string) (mailaddr.Address, router.Result, error) {
	var addr mailaddr.Address
	var res router.Result
	var err error
	if strings.EqualFold(to, "postmaster") {
		addr, res, err = s.srv.deps.Router.ResolvePostmaster(s.ctx, s.srv.cfg.Hostname)
	} else {
		addr, err = parsePath(to)
		if err != nil {
			if s.identity == nil && relaySyntax(to) {
				s.log.Info("relay attempt", "rcpt", sanitize(to))
				return addr, res, errRelayDenied
			}
			return addr, res, errRcptSyntax
		}
		if !s.tx.opts.UTF8 && !addr.IsASCII() {
			return addr, res, errNeedSMTPUTF8
		}
		if addr.IsLiteral() {
			// We neither receive for nor send to address literals.
			return addr, res, errRelayDenied
		}
		res, err = s.srv.deps.Router.Resolve(s.ctx, addr)
	}
	if errors.Is(err, router.ErrLoop) {
		s.log.Warn("alias loop", "rcpt", sanitize(to), "err", err)
		return addr, res, errAliasLoop
	}
	if err != nil {
		s.log.Error("resolve recipient", "rcpt", sanitize(to), "err", err)
		return addr, res, errUnavailable
	}
	return addr, res, nil
}

// addLocal records where a recipient of ours goes: local accounts (not
// over quota) and alias targets elsewhere. rcpt names the recipient in a
// generated ORCPT.
func (s *session) addLocal(tx *transaction, addr mailaddr.Address, rcpt string, opts *smtp.RcptOptions, res router.Result) error {
	if len(res.Skipped) > 0 {
		s.log.Warn("alias targets skipped", "rcpt", addr.String(), "skipped", sanitize(strings.Join(res.Skipped, ",")))
	}
	var kept []router.LocalTarget
	for _, l := range res.Local {
		if a := l.Account; a.QuotaBytes > 0 && a.UsedBytes+max(tx.opts.Size, 1) > a.QuotaBytes {
			// Not an event: the recipient is refused (and counted) only
			// when no target is left (errQuota, logged by Rcpt).
			s.log.Info("target over quota", "tx", tx.id, "rcpt", addr.String(), "account", a.Address, "reason", "over quota")
			continue
		}
		kept = append(kept, l)
	}
	if len(kept) == 0 && len(res.Remote) == 0 {
		return errQuota
	}
	for _, l := range kept {
		if !tx.localSeen[l.Account.ID] {
			tx.localSeen[l.Account.ID] = true
			tx.local = append(tx.local, localRcpt{target: l})
		}
	}
	for _, r := range res.Remote {
		s.addRemote(tx, r, rcpt, opts, true)
	}
	return nil
}

// addRemote queues addr with the DSN parameters of the RCPT (RFC 3461 4).
// For an alias expansion without ORCPT, the original recipient becomes
// the ORCPT so that a DSN names the address the sender used.
func (s *session) addRemote(tx *transaction, addr mailaddr.Address, rcpt string, opts *smtp.RcptOptions, expanded bool) {
	k := addr.String()
	if tx.remoteSeen[k] {
		return
	}
	tx.remoteSeen[k] = true
	r := store.OutRcpt{Addr: k}
	if opts != nil {
		if opts.OriginalRecipient != "" {
			r.ORCPT = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
		var n []string
		for _, v := range opts.Notify {
			n = append(n, string(v))
		}
		r.Notify = strings.Join(n, ",")
	}
	if r.ORCPT == "" && expanded {
		typ := "rfc822"
		if !isASCII(rcpt) {
			typ = "utf-8"
		}
		r.ORCPT = typ + ";" + rcpt
	}
	tx.remote = append(tx.remote, r)
}

// owns reports whether the authenticated account may use addr as sender:
// its own address (any plus-tag), or an alias that resolves to it, but not
// a catch-all or the postmaster fallback.
func (s *session) owns(addr mailaddr.Address) (bool, error) {
	id := s.identity
	if strings.EqualFold(addr.Base().Key(), id.Address) {
		return true, nil
	}
	res, err := s.srv.deps.Router.Resolve(s.ctx, addr)
	if errors.Is(err, router.ErrLoop) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if res.Status != router.Deliver || res.Implicit {
		return false, nil
	}
	for _, l := range res.Local {
		if l.Account.ID == id.AccountID {
			return true, nil
		}
	}
	return false, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

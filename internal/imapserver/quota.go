package imapserver

import (
	"context"

	"github.com/kantorpos/kantorpos/internal/store"
)

// QUOTA (RFC 9208). Every account has one quota root, named "", holding
// all its mailboxes; its one resource is STORAGE (§5.1), from the
// account's quota (store.Account.QuotaBytes, the limit SMTP enforces at
// RCPT and the store at APPEND and COPY). An account without a limit has
// no quota root. The store keeps no message-count limit, so MESSAGE
// (§5.2) is not offered. Users cannot change their quota: SETQUOTA is
// refused and QUOTASET not advertised.
const quotaRoot = ""

// quotaCaps are the capabilities QUOTA adds after login.
var quotaCaps = []string{"QUOTA", "QUOTA=RES-STORAGE"}

// storageKiB is STORAGE in units of 1024 octets (RFC 9208 §5.1): usage
// rounded up (a few bytes still use space), the limit rounded down (what
// is shown is never more than what is allowed).
func storageKiB(used, limit int64) (uint64, uint64) {
	return uint64((max(used, 0) + 1023) / 1024), uint64(max(limit, 0) / 1024)
}

// quotaAccount returns the session's account (its usage and limit now).
func (s *session) quotaAccount() (store.Account, error) {
	a, err := s.srv.backend.AccountByID(s.ctx, s.account.AccountID)
	if err != nil {
		return a, s.storeErr("quota", err)
	}
	return a, nil
}

// writeQuota writes "* QUOTA root (STORAGE used limit)" (RFC 9208 §4.2.1).
func (s *session) writeQuota(a *store.Account) {
	used, limit := storageKiB(a.UsedBytes, a.QuotaBytes)
	s.w.Raw("* QUOTA ").String(quotaRoot).Raw(" (STORAGE ").Number(used).SP().Number(limit).Raw(")\r\n")
}

// cmdGetQuotaRoot: GETQUOTAROOT mailbox (RFC 9208 §4.1.2, QUOTAROOT §4.2.2): the mailbox's
// quota roots, then each root's QUOTA.
func cmdGetQuotaRoot(s *session, _ string) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	mb, err := s.srv.backend.Mailbox(s.ctx, s.account.AccountID, name)
	if err != nil {
		return s.storeErr("getquotaroot", err)
	}
	a, err := s.quotaAccount()
	if err != nil {
		return err
	}
	s.w.Raw("* QUOTAROOT ")
	s.writeMailboxName(mb.Name)
	if a.QuotaBytes > 0 {
		s.w.SP().String(quotaRoot).CRLF()
		s.writeQuota(&a)
	} else {
		s.w.CRLF()
	}
	return nil
}

// cmdGetQuota: GETQUOTA root (RFC 9208 §4.1.1).
func cmdGetQuota(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	root, err := s.r.AString()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	a, err := s.quotaAccount()
	if err != nil {
		return err
	}
	if root != quotaRoot || a.QuotaBytes <= 0 {
		return no("NONEXISTENT", "No such quota root")
	}
	s.writeQuota(&a)
	return nil
}

// cmdSetQuota: SETQUOTA root (resource limit ...) (RFC 9208 §4.1.3) is
// read in full (a malformed one is BAD) and refused: quotas are set by the
// administrator.
func cmdSetQuota(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	if _, err := s.r.AString(); err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	if err := s.r.List(0, func() error {
		if _, err := s.r.Atom(); err != nil {
			return err
		}
		if err := s.r.SP(); err != nil {
			return err
		}
		_, err := s.r.Number64()
		return err
	}); err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	return no("NOPERM", "Quotas are set by the administrator")
}

// checkQuota refuses, before the client sends them, size more octets that
// would take the account over its quota (RFC 9208 §4.3: NO [OVERQUOTA]).
// The store checks again when it adds the message.
func (s *session) checkQuota(size int64) error {
	a, err := s.quotaAccount()
	if err != nil {
		return err
	}
	if a.QuotaBytes > 0 && a.UsedBytes+size > a.QuotaBytes {
		return no("OVERQUOTA", "Quota exceeded")
	}
	return nil
}

// deletedStorage is the STATUS DELETED-STORAGE of a mailbox (RFC 9208
// §4.1.4): the octets that EXPUNGE would free, the sizes of its messages
// flagged \Deleted.
func deletedStorage(ctx context.Context, b Backend, mailboxID int64) (int64, error) {
	uids, err := b.Search(ctx, mailboxID, &store.SearchCriteria{Flags: []string{store.FlagDeleted}})
	if err != nil || len(uids) == 0 {
		return 0, err
	}
	msgs, err := b.FetchMessages(ctx, mailboxID, uidSetOf(uids), store.FetchOptions{})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range msgs {
		n += m.Size
	}
	return n, nil
}

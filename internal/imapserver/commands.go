package imapserver

import (
	"crypto/tls"
	"strconv"
	"strings"
	"time"
)

// command is an entry of the dispatch table.
type command struct {
	states state // where the command is allowed
	fn     func(s *session, tag string) error
	// seqNums: the command uses sequence numbers, so no EXPUNGE may be
	// sent at its end (RFC 9051 §7.5.1: FETCH, STORE, SEARCH).
	seqNums bool
}

const (
	anyState = stateNotAuth | stateAuth | stateSelected
	authed   = stateAuth | stateSelected
)

// commandTable is the dispatch table: command name → states, handler.
// One file per command (or family) holds the handlers.
func commandTable() map[string]command {
	return map[string]command{
		// Any state (RFC 9051 §6.1).
		"CAPABILITY": {anyState, cmdCapability, false},
		"NOOP":       {anyState, cmdNoop, false},
		"LOGOUT":     {anyState, cmdLogout, false},
		"ID":         {anyState, cmdID, false},
		// Not authenticated (§6.2).
		"STARTTLS":     {stateNotAuth, cmdStartTLS, false},
		"LOGIN":        {stateNotAuth, cmdLogin, false},
		"AUTHENTICATE": {stateNotAuth, cmdAuthenticate, false},
		// Authenticated (§6.3).
		"ENABLE":      {authed, cmdEnable, false},
		"SELECT":      {authed, cmdSelect, false},
		"EXAMINE":     {authed, cmdExamine, false},
		"CREATE":      {authed, cmdCreate, false},
		"DELETE":      {authed, cmdDelete, false},
		"RENAME":      {authed, cmdRename, false},
		"SUBSCRIBE":   {authed, cmdSubscribe, false},
		"UNSUBSCRIBE": {authed, cmdUnsubscribe, false},
		"LIST":        {authed, cmdList, false},
		"LSUB":        {authed, cmdLsub, false},
		"NAMESPACE":   {authed, cmdNamespace, false},
		"STATUS":      {authed, cmdStatus, false},
		"APPEND":      {authed, cmdAppend, false},
		"IDLE":        {authed, cmdIdle, false},
		// QUOTA (RFC 9208, quota.go).
		"GETQUOTA":     {authed, cmdGetQuota, false},
		"GETQUOTAROOT": {authed, cmdGetQuotaRoot, false},
		"SETQUOTA":     {authed, cmdSetQuota, false},
		// Selected (§6.4).
		"CHECK":       {stateSelected, cmdNoop, false},
		"CLOSE":       {stateSelected, cmdClose, false},
		"UNSELECT":    {stateSelected, cmdUnselect, false},
		"EXPUNGE":     {stateSelected, cmdExpunge, false},
		"UID EXPUNGE": {stateSelected, cmdUIDExpunge, false},
		"SEARCH":      {stateSelected, cmdSearch, true},
		"UID SEARCH":  {stateSelected, cmdUIDSearch, false},
		"FETCH":       {stateSelected, cmdFetch, true},
		"UID FETCH":   {stateSelected, cmdUIDFetch, false},
		"STORE":       {stateSelected, cmdStore, true},
		"UID STORE":   {stateSelected, cmdUIDStore, false},
		"COPY":        {stateSelected, cmdCopy, false},
		"UID COPY":    {stateSelected, cmdUIDCopy, false},
		"MOVE":        {stateSelected, cmdMove, false},
		"UID MOVE":    {stateSelected, cmdUIDMove, false},
	}
}

// capabilities lists what the session may use now (RFC 9051 §6.1.1).
func (s *session) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"}
	if s.state == stateNotAuth {
		if !s.tls && s.srv.tls != nil {
			caps = append(caps, "STARTTLS")
		}
		if s.tls || s.srv.cfg.AllowInsecureAuth {
			caps = append(caps, "AUTH=PLAIN", "AUTH=LOGIN")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		return strings.Join(caps, " ")
	}
	caps = append(caps, "NAMESPACE", "UIDPLUS", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS",
		"MOVE", "STATUS=SIZE", "BINARY", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "UNSELECT",
		"UTF8=ACCEPT", "APPENDLIMIT="+strconv.FormatUint(uint64(s.srv.cfg.AppendLimit), 10))
	caps = append(caps, quotaCaps...)
	return strings.Join(caps, " ")
}

func cmdCapability(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	s.w.Raw("* CAPABILITY ").Raw(s.capabilities()).CRLF()
	return nil
}

func cmdNoop(s *session, _ string) error { return s.r.End() }

func cmdLogout(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	s.w.Untagged("BYE", "", "Logging out")
	s.byeSent.Store(true)
	s.state = stateLogout
	s.unselect()
	return nil
}

func cmdStartTLS(s *session, tag string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	if s.tls || s.srv.tls == nil {
		return bad("TLS not available")
	}
	s.w.Tagged(tag, "OK", "", "Begin TLS negotiation now")
	if err := s.w.Flush(); err != nil {
		return errConnGone
	}
	if s.r.Buffered() > 0 {
		// Commands sent after STARTTLS before the handshake would run as if
		// they came over TLS (CVE-2011-0411): not an honest client.
		s.log.Warn("closing: data after STARTTLS")
		s.state = stateLogout
		return errConnGone
	}
	t := tls.Server(s.conn, s.srv.tls)
	s.conn.SetDeadline(time.Now().Add(s.srv.cfg.HandshakeTimeout))
	if err := t.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("STARTTLS handshake", "err", err)
		s.state = stateLogout
		return errConnGone
	}
	s.conn.SetDeadline(time.Time{})
	s.setConn(t)
	s.tls = true
	return errReplied
}

// errReplied: the handler wrote its tagged reply itself.
var errReplied = &okReply{}

func cmdEnable(s *session, _ string) error {
	var enabled []string
	for !s.r.AtEnd() {
		if err := s.r.SP(); err != nil {
			return err
		}
		c, err := s.r.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(c) {
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2 = true
				s.noRecent()
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8, s.w.UTF8 = true, true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		}
	}
	s.w.Raw("* ENABLED")
	for _, c := range enabled {
		s.w.SP().Raw(c)
	}
	s.w.CRLF()
	return nil
}

// cmdNamespace: one personal namespace, "/" separated (RFC 2342).
func cmdNamespace(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	s.w.Raw(`* NAMESPACE (("" "/")) NIL NIL` + "\r\n")
	return nil
}

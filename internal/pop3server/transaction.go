package pop3server

import (
	"errors"
	"io"

	"github.com/kantorpos/kantorpos/internal/store"
)

// cmdSTAT: RFC 1939 5.
func (s *session) cmdSTAT(_ []string, _ string) error {
	n, size := s.drop.stat()
	return s.ok("%d %d", n, size)
}

// cmdLIST: RFC 1939 5, sizes in octets as stored.
func (s *session) cmdLIST(args []string, _ string) error {
	if len(args) == 1 {
		n, m, err := s.drop.message(args[0])
		if err != nil {
			return err
		}
		return s.ok("%d %d", n, m.msg.Size)
	}
	n, size := s.drop.stat()
	s.reply("+OK %d messages (%d octets)", n, size)
	for i := range s.drop.msgs {
		if m := &s.drop.msgs[i]; !m.deleted {
			s.reply("%d %d", i+1, m.msg.Size)
		}
	}
	s.reply(".")
	return nil
}

// cmdUIDL: RFC 1939 7.
func (s *session) cmdUIDL(args []string, _ string) error {
	if len(args) == 1 {
		n, m, err := s.drop.message(args[0])
		if err != nil {
			return err
		}
		return s.ok("%d %s", n, s.drop.uidl(m))
	}
	s.reply("+OK Unique-ID listing follows")
	for i := range s.drop.msgs {
		if m := &s.drop.msgs[i]; !m.deleted {
			s.reply("%d %s", i+1, s.drop.uidl(m))
		}
	}
	s.reply(".")
	return nil
}

// cmdRETR: RFC 1939 5.
func (s *session) cmdRETR(args []string, _ string) error {
	_, m, err := s.drop.message(args[0])
	if err != nil {
		return err
	}
	if err := s.sendMessage(m, -1); err != nil {
		return err
	}
	m.retrieved = true
	return nil
}

// cmdTOP: RFC 1939 7.
func (s *session) cmdTOP(args []string, _ string) error {
	_, m, err := s.drop.message(args[0])
	if err != nil {
		return err
	}
	lines, ok := parseNumber(args[1])
	if !ok {
		return &respError{Text: "Invalid number of lines"}
	}
	return s.sendMessage(m, lines)
}

// sendMessage streams a message, byte-stuffed, never holding it whole in
// memory. Once "+OK" is out an error cannot be reported: the connection is
// closed so the client sees a truncated, unterminated response.
func (s *session) sendMessage(m *dropMsg, bodyLines int) error {
	c, err := s.srv.Backend.OpenMessage(s.ctx, &m.msg)
	if errors.Is(err, store.ErrNotFound) {
		return &respError{Text: "Message no longer available", Err: err}
	} else if err != nil {
		return &respError{Code: "SYS/TEMP", Text: "Unable to read message, try again later", Err: err}
	}
	defer c.Close()
	if bodyLines < 0 {
		s.reply("+OK %d octets", m.msg.Size)
	} else {
		s.reply("+OK Top of message follows")
	}
	dw := newDotWriter(s.bw, bodyLines)
	if s.copyBuf == nil {
		s.copyBuf = make([]byte, 32*1024)
	}
	if _, err := io.CopyBuffer(dw, onlyReader{c}, s.copyBuf); err != nil && !errors.Is(err, errTopDone) {
		s.log.Warn("pop3: sending message failed", "uid", m.msg.UID, "err", err)
		return errCloseConn
	}
	if err := dw.Close(); err != nil {
		return errCloseConn
	}
	return nil
}

// cmdDELE marks a message; it is removed only at QUIT (RFC 1939 5).
func (s *session) cmdDELE(args []string, _ string) error {
	n, m, err := s.drop.message(args[0])
	if err != nil {
		return err
	}
	m.deleted = true
	return s.ok("Message %d deleted", n)
}

// cmdNOOP: RFC 1939 5.
func (s *session) cmdNOOP(_ []string, _ string) error {
	s.reply("+OK")
	return nil
}

// cmdRSET unmarks every message marked deleted (RFC 1939 5).
func (s *session) cmdRSET(_ []string, _ string) error {
	for i := range s.drop.msgs {
		s.drop.msgs[i].deleted = false
	}
	n, size := s.drop.stat()
	return s.ok("Maildrop has %d messages (%d octets)", n, size)
}

// cmdQUITUpdate enters the UPDATE state (RFC 1939 6): the marked messages
// are removed in one atomic, durable store call before "+OK"; then the
// retrieved ones left are marked \Seen.
func (s *session) cmdQUITUpdate(_ []string, _ string) error {
	s.state = stateUpdate
	drop := s.drop
	s.drop = nil
	defer drop.close()
	deleted := drop.deletedUIDs()
	if len(deleted) > 0 {
		if _, err := s.srv.Backend.DeleteMessages(s.ctx, drop.mailbox.ID, deleted); err != nil {
			return &respError{Code: "SYS/TEMP", Text: "Some deleted messages not removed", Err: err, Close: true}
		}
	}
	if seen := drop.seenUIDs(); len(seen) > 0 && !s.cfg.NoFlagUpdates {
		if _, err := s.srv.Backend.UpdateFlags(s.ctx, drop.mailbox.ID, seen, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
			s.log.Warn("pop3: marking retrieved messages seen", "err", err)
		}
	}
	n, _ := drop.stat()
	s.log.Info("pop3: logout", "deleted", len(deleted), "left", n)
	s.reply("+OK Bye, %d messages left", n)
	return errCloseConn
}

// onlyReader hides any WriterTo of the content so that io.CopyBuffer uses
// the session's buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

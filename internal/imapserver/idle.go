package imapserver

import (
	"strings"
)

// cmdIdle: IDLE (RFC 2177): updates are written as the mailbox's view
// receives them, until the client sends DONE. The reading of DONE runs in
// a second goroutine for the length of the IDLE; the session goroutine
// writes.
func cmdIdle(s *session, _ string) error {
	if err := s.r.End(); err != nil {
		return err
	}
	if s.sel != nil {
		if err := s.sel.view.box.syncIfNews(s.ctx); err != nil {
			s.log.Warn("idle: sync", "err", err)
		}
		s.sel.view.flush(s.w, true)
	}
	s.w.Continue("idling")
	if err := s.w.Flush(); err != nil {
		return errConnGone
	}
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	s.setReadDeadline(true)
	go func() {
		line, err := s.r.ReadLine()
		done <- result{line, err}
	}()
	var notify chan struct{}
	if s.sel != nil {
		notify = s.sel.view.notify
	}
	// Shutdown may say BYE while we wait: let it write.
	s.busy.Store(false)
	s.wmu.Unlock()
	var res result
	for waiting := true; waiting; {
		select {
		case res = <-done:
			waiting = false
		case <-notify:
			s.wmu.Lock()
			s.sel.view.flush(s.w, true)
			err := s.w.Flush()
			s.wmu.Unlock()
			if err != nil {
				res = <-done // the read fails too once the connection is closed
				waiting = false
			}
		}
	}
	s.wmu.Lock()
	s.busy.Store(true)
	if res.err != nil {
		return res.err
	}
	if !strings.EqualFold(strings.TrimSpace(res.line), "DONE") {
		return bad("Expected DONE")
	}
	return nil
}

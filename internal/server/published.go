package server

import (
	"github.com/kantorpos/kantorpos/internal/admin"
)

// setPublished derives what clients and DNS are told (host name, ports)
// from the listeners actually running: a listener configured on port 0 is
// published with its real port, and one configured but not served (no
// service yet) is not offered. Ops (and so DNS records through the admin
// web) and the autoconfig documents read the same value.
func (s *Server) setPublished() {
	c := s.Config
	addrs := s.Addrs()
	for name, p := range map[string]*string{
		"submission": &c.Submission.Listen, "submissions": &c.Submission.ListenTLS,
		"imap": &c.IMAP.Listen, "imaps": &c.IMAP.ListenTLS, "pop3": &c.POP3.Listen, "pop3s": &c.POP3.ListenTLS,
	} {
		*p = addrs[name] // "" when not running: not offered
	}
	p := admin.PublishedFromConfig(c)
	s.mu.Lock()
	s.published = p
	s.mu.Unlock()
	s.Ops.Published = p
}

// Published returns the host name and ports clients use (after Start).
func (s *Server) Published() admin.Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.published
}

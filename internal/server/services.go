package server

import (
	"context"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/smtpserver"
)

// serviceDef is one listener of the configuration and how to build its
// service. Protocol services register here as they are built.
type serviceDef struct {
	name string
	addr string
	make func() (service, error)
}

// services lists the listeners of the configuration.
func (s *Server) services() []serviceDef {
	c := s.Config
	smtp := func(k smtpserver.Kind) func() (service, error) {
		return func() (service, error) { return s.smtpServer(k) }
	}
	return []serviceDef{
		{"smtp", c.SMTP.Listen, smtp(smtpserver.MX)},
		{"submission", c.Submission.Listen, smtp(smtpserver.Submission)},
		{"submissions", c.Submission.ListenTLS, smtp(smtpserver.SubmissionTLS)},
		{"imap", c.IMAP.Listen, func() (service, error) { return s.imapService(false) }},
		{"imaps", c.IMAP.ListenTLS, func() (service, error) { return s.imapService(true) }},
		{"pop3", c.POP3.Listen, func() (service, error) { return s.pop3Server(false) }},
		{"pop3s", c.POP3.ListenTLS, func() (service, error) { return s.pop3Server(true) }},
		{"managesieve", c.ManageSieve.Listen, s.manageSieveServer},
		{"admin", c.Admin.Listen, s.adminServer},
		{"http", c.Web.Listen, func() (service, error) { return s.webServer(false) }},
		{"https", c.Web.ListenTLS, func() (service, error) { return s.webServer(true) }},
	}
}

// deliverer is what the SMTP servers file messages with: the store behind
// the Sieve filter, and a kick for the queue runner so that remote mail
// leaves at once.
func (s *Server) deliverer() smtpserver.Deliverer {
	// On SMTP a Sieve reject of a single-recipient message is a 550.
	f := *s.Filter
	f.Refuse = func(reason string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: reason}
	}
	return kickingDeliverer{Deliverer: &f, kick: s.Queue.Kick}
}

type worker struct {
	name string
	run  func(ctx context.Context) error
}

// workerList lists the background workers (the queue runner...).
func (s *Server) workerList() []worker {
	ws := []worker{
		{"queue", s.Queue.Run},
		{"certificate files", func(ctx context.Context) error { return s.TLS.Watch(ctx, time.Minute) }},
	}
	if s.ACME != nil {
		ws = append(ws, worker{"acme", s.ACME.Run})
	}
	return ws
}

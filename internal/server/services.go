package server

import (
	"context"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/netlimit"
	"github.com/kantorpos/kantorpos/internal/smtpserver"
)

// serviceDef is one listener of the configuration and how to build its
// service. Protocol services register here as they are built.
type serviceDef struct {
	name string
	addr string
	make func() (service, error)
	// refusal is what a connection over the listener's limits is told
	// (netlimit.Options.Refusal); nil closes it at once.
	refusal func(netlimit.Reason) string
}

// services lists the listeners of the configuration.
func (s *Server) services() []serviceDef {
	c := s.Config
	smtp := func(k smtpserver.Kind) func() (service, error) {
		return func() (service, error) { return s.smtpServer(k) }
	}
	return []serviceDef{
		{"smtp", c.SMTP.Listen, smtp(smtpserver.MX), s.smtpRefusal},
		{"submission", c.Submission.Listen, smtp(smtpserver.Submission), s.smtpRefusal},
		{"submissions", c.Submission.ListenTLS, smtp(smtpserver.SubmissionTLS), nil},
		{"imap", c.IMAP.Listen, func() (service, error) { return s.imapService(false) }, imapRefusal},
		{"imaps", c.IMAP.ListenTLS, func() (service, error) { return s.imapService(true) }, nil},
		{"pop3", c.POP3.Listen, func() (service, error) { return s.pop3Server(false) }, pop3Refusal},
		{"pop3s", c.POP3.ListenTLS, func() (service, error) { return s.pop3Server(true) }, nil},
		{"managesieve", c.ManageSieve.Listen, s.manageSieveServer, manageSieveRefusal},
		{"admin", c.Admin.Listen, s.adminServer, nil},
		{"http", c.Web.Listen, func() (service, error) { return s.webServer(false) }, nil},
		{"https", c.Web.ListenTLS, func() (service, error) { return s.webServer(true) }, nil},
	}
}

// limitListener applies limits.max_connections and
// limits.max_connections_per_ip to one listener: a connection over them is
// refused with the protocol's words (plaintext listeners) or closed (TLS
// and HTTP). The admin listener has the total only: an administrator's
// browser and scripts share one address.
func (s *Server) limitListener(d serviceDef, ln net.Listener) net.Listener {
	perAddr := s.Config.Limits.MaxConnectionsPerIP
	if d.name == "admin" {
		perAddr = 0
	}
	return netlimit.NewListener(ln, netlimit.Options{
		Max: s.Config.Limits.MaxConnections, MaxPerAddr: perAddr, Refusal: d.refusal,
		Log: s.Log.With("component", "netlimit", "listener", d.name),
	})
}

// The refusals at connect. RFC 5321 3.8: 421, and the server closes.
func (s *Server) smtpRefusal(r netlimit.Reason) string {
	return "421 4.7.0 " + s.Config.Hostname + " " + tooMany(r) + ", try again later\r\n"
}

// RFC 9051 7.1.5: BYE as the greeting refuses the connection; RFC 5530
// UNAVAILABLE.
func imapRefusal(r netlimit.Reason) string { return "* BYE [UNAVAILABLE] " + tooMany(r) + "\r\n" }

// RFC 5804 1.3: BYE with TRYLATER, a temporary refusal.
func manageSieveRefusal(r netlimit.Reason) string { return "BYE (TRYLATER) \"" + tooMany(r) + "\"\r\n" }

// RFC 3206 4: SYS/TEMP, a temporary problem on the server's side.
func pop3Refusal(r netlimit.Reason) string { return "-ERR [SYS/TEMP] " + tooMany(r) + "\r\n" }

func tooMany(r netlimit.Reason) string {
	if r == netlimit.PerAddr {
		return "Too many connections from your address"
	}
	return "Too many connections"
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

package server

import (
	"context"
	"errors"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailauth"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/smtpserver"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// smtpServer builds the SMTP service of one listener kind.
func (s *Server) smtpServer(kind smtpserver.Kind) (service, error) {
	c := s.Config
	cfg := smtpserver.Config{
		Kind:           kind,
		Hostname:       c.Hostname,
		MaxMessageSize: int64(c.SMTP.MaxMessageSize),
		MaxRecipients:  c.SMTP.MaxRecipients,
		MaxReceived:    c.SMTP.MaxReceivedHeaders,
		CommandTimeout: c.SMTP.CommandTimeout.D(),
		SessionTimeout: c.SMTP.SessionTimeout.D(),
		MaxConns:       c.Limits.MaxConnections,
		MaxConnsPerIP:  c.Limits.MaxConnectionsPerIP,
		// Implicit TLS (465) and STARTTLS.
		HandshakeTimeout: c.Limits.TLSHandshakeTimeout.D(),
	}
	if kind.IsSubmission() {
		cfg.AllowInsecureAuth = c.Submission.AllowInsecureAuth
	}
	deps := smtpserver.Deps{
		Events:    s.Events,
		Router:    s.Router,
		Deliverer: s.deliverer(),
		Blobs:     s.Blobs,
		Auth:      s.Auth,
		TLS:       s.TLS.ServerConfig(tlsconf.ProtoSMTP),
		Clock:     s.Clock,
		Log:       s.Log.With("component", "smtp", "listener", kind.String()),
	}
	if kind == smtpserver.MX {
		deps.HeaderFilter = s.stripForgedResults
		if c.SMTP.CheckAuthentication {
			deps.Inbound = &inboundChecker{v: &mailauth.Verifier{
				Resolver: s.Resolver, Hostname: c.Hostname, Timeout: 20 * time.Second, Clock: s.Clock,
				Log: s.Log.With("component", "mailauth"),
			}}
		}
	} else if c.Submission.SignDKIM {
		deps.Signer = &dkimSigner{keys: s.Store, clock: s.Clock}
	}
	return smtpserver.New(cfg.WithDefaults(), deps)
}

// stripForgedResults removes the Authentication-Results fields a sender
// wrote in our name: our host name, any of our domains or a name under one
// (RFC 8601 5; issue 19 item 13). The domains are read once per message,
// and only when the message has such a field; when they cannot be read,
// every Authentication-Results field is removed (they are only advice).
func (s *Server) stripForgedResults(h []byte) []byte {
	var domains []string
	loaded, failed := false, false
	out, n := mailauth.StripForged(h, func(id string) bool {
		if !loaded {
			loaded = true
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ds, err := s.Store.Domains(ctx)
			if err != nil {
				s.Log.Warn("authentication-results filter: domains", "err", err)
				failed = true
			}
			for _, d := range ds {
				domains = append(domains, d.Name)
			}
		}
		return failed || mailauth.OursID(id, s.Config.Hostname, domains)
	})
	if n > 0 {
		s.Log.Info("removed forged Authentication-Results", "component", "smtp", "fields", n)
	}
	return out
}

// newRouter builds the recipient router.
func (s *Server) newRouter() *router.Router {
	r := router.New(s.Store, s.Config.SMTP.Postmaster)
	r.SRS = s.SRS
	return r
}

// inboundChecker runs SPF, DKIM and DMARC on mail received on the MX.
type inboundChecker struct{ v *mailauth.Verifier }

func (c *inboundChecker) CheckInbound(ctx context.Context, m *smtpserver.Inbound) (smtpserver.Verdict, error) {
	res, err := c.v.Verify(ctx, mailauth.ConnInfo{IP: m.RemoteIP, HELO: m.HELO, MailFrom: m.MailFrom}, m.Message)
	if errors.Is(err, mailauth.ErrHeaderTooLong) {
		return smtpserver.Verdict{Action: smtpserver.Reject, Reply: "Header section too long to verify"}, nil
	}
	if err != nil {
		return smtpserver.Verdict{}, err
	}
	v := smtpserver.Verdict{Header: []byte(res.AuthenticationResults)}
	switch res.Action {
	case mailauth.Quarantine:
		v.Action = smtpserver.Junk
	case mailauth.Reject:
		v.Action = smtpserver.Reject
	case mailauth.TempFail:
		v.Action = smtpserver.TempFail
	}
	if _, _, text, ok := res.Reply(); ok {
		v.Reply = text
	}
	return v, nil
}

// dkimSigner signs submitted mail with the From domain's keys.
type dkimSigner struct {
	keys  store.DKIMKeys
	clock interface{ Now() time.Time }
}

func (d *dkimSigner) Sign(ctx context.Context, m *smtpserver.Outgoing) ([]byte, error) {
	if m.FromDomain == "" {
		return nil, nil
	}
	stored, err := d.keys.DKIMKeys(ctx, m.FromDomain)
	if err != nil {
		return nil, err
	}
	keys := make([]mailauth.DKIMKey, len(stored))
	for i, k := range stored {
		keys[i] = mailauth.DKIMKey(k)
	}
	h, err := mailauth.Sign(ctx, m.Message, keys, d.clock.Now())
	if errors.Is(err, mailauth.ErrNoSigningKey) {
		return nil, nil // a domain without keys sends unsigned
	}
	return h, err
}

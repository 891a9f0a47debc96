package server

import (
	"github.com/kantorpos/kantorpos/internal/pop3server"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// pop3Server builds the POP3 service (STLS on 110, implicit TLS on 995).
func (s *Server) pop3Server(implicitTLS bool) (service, error) {
	c := s.Config
	return &pop3server.Server{
		Events:    s.Events,
		Backend:   s.Store,
		Auth:      s.Auth,
		TLSConfig: s.TLS.ServerConfig(tlsconf.ProtoPOP3),
		Clock:     s.Clock,
		Log:       s.Log.With("component", "pop3"),
		Config: pop3server.Config{
			Hostname:          c.Hostname,
			ImplicitTLS:       implicitTLS,
			AllowInsecureAuth: c.POP3.AllowInsecureAuth,
			MaxConnsPerIP:     c.Limits.MaxConnectionsPerIP,
			HandshakeTimeout:  c.Limits.TLSHandshakeTimeout.D(),
		},
	}, nil
}

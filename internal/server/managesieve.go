package server

import (
	"github.com/kantorpos/kantorpos/internal/managesieve"
	"github.com/kantorpos/kantorpos/internal/sieve"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// manageSieveServer builds the ManageSieve service (RFC 5804, port 4190).
func (s *Server) manageSieveServer() (service, error) {
	c := s.Config
	return &managesieve.Server{
		Backend:   s.Store,
		Auth:      s.Auth,
		TLSConfig: s.TLS.ServerConfig(tlsconf.ProtoManageSieve),
		Log:       s.Log.With("component", "managesieve"),
		Config: managesieve.Config{
			AllowInsecureAuth: c.ManageSieve.AllowInsecureAuth,
			MaxConnsPerIP:     c.Limits.MaxConnectionsPerIP,
			MaxRedirects:      sieve.DefaultLimits.MaxRedirects,
		},
	}, nil
}

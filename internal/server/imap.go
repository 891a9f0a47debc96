package server

import (
	"math"

	"github.com/kantorpos/kantorpos/internal/imapserver"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// imapServer returns the one IMAP server shared by ports 143 and 993 (it
// holds the store subscription and the connection limits), made on first use.
func (s *Server) imapServer() (*imapserver.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.imap != nil {
		return s.imap, nil
	}
	c := s.Config
	srv, err := imapserver.New(imapserver.Config{
		TLS:               s.TLS.ServerConfig(tlsconf.ProtoIMAP),
		AllowInsecureAuth: c.IMAP.AllowInsecureAuth,
		AppendLimit:       uint32(min(int64(c.IMAP.MaxAppendSize), 1<<32-1)),
		// limits.max_connections_per_ip is enforced per listener, per /64,
		// by netlimit; the engine's own count (per address, across 143 and
		// 993 together) would refuse differently, so it is left unbounded.
		MaxConnsPerIP:      math.MaxInt32,
		MaxConnsPerAccount: c.IMAP.MaxConnsPerUser,
		IdleTimeout:        c.IMAP.IdleTimeout.D(),
		HandshakeTimeout:   c.Limits.TLSHandshakeTimeout.D(),
	}, imapserver.Deps{
		Backend: s.Store,
		Auth:    s.Auth,
		Blobs:   s.Blobs,
		Log:     s.Log.With("component", "imap"),
		Clock:   s.Clock,
	})
	if err != nil {
		return nil, err
	}
	s.imap = srv
	return srv, nil
}

func (s *Server) imapService(implicitTLS bool) (service, error) {
	srv, err := s.imapServer()
	if err != nil {
		return nil, err
	}
	if implicitTLS {
		return srv.ImplicitTLS(), nil
	}
	return srv, nil
}

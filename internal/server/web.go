package server

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/kantorpos/kantorpos/internal/acmecert"
	"github.com/kantorpos/kantorpos/internal/autoconfig"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
	"github.com/kantorpos/kantorpos/internal/webserver"
)

// newACME builds the certificate manager of tls.acme.
func (s *Server) newACME() (*acmecert.Manager, error) {
	c := s.Config
	var names []string
	if len(c.TLS.ACMENames) > 0 {
		names = c.TLS.ACMENames
	}
	challenges := slices.DeleteFunc(slices.Clone(c.TLS.ACMEChallenges), func(ch string) bool {
		return ch == config.ChallengeTLSALPN && c.Web.ListenTLS == "" || ch == config.ChallengeHTTP && c.Web.Listen == ""
	})
	return acmecert.New(acmecert.Options{
		Hostname: c.Hostname, Names: names, Domains: s.domainNames,
		Email: c.TLS.ACMEEmail, DirectoryURL: c.TLS.ACMEDirectory, DirectoryCA: c.TLS.ACMEDirectoryCA,
		Challenges: challenges, Dir: filepath.Join(c.DataDir, "acme"),
		Clock: s.Clock, Log: s.Log.With("component", "acme"),
	})
}

// domainNames lists our domains (for the autoconfig certificate names).
func (s *Server) domainNames(ctx context.Context) ([]string, error) {
	ds, err := s.Store.Domains(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	return names, nil
}

// webServer builds the public web listener (HTTP or HTTPS).
func (s *Server) webServer(https bool) (service, error) {
	cfg := webserver.Config{
		Autoconfig: &autoconfig.Handler{Published: s.Published, Domains: s.Store, Log: s.Log.With("component", "autoconfig")},
		Published:  s.Published,
		HTTPSPort:  s.httpsPort,
		// The mail listeners' limits (per listener).
		MaxConnsPerIP: s.Config.Limits.MaxConnectionsPerIP,
		MaxConns:      s.Config.Limits.MaxConnections,
		// HTTPS (443).
		HandshakeTimeout: s.Config.Limits.TLSHandshakeTimeout.D(),
		Log:              s.Log.With("component", "web"),
	}
	if s.ACME != nil {
		cfg.ACME = s.ACME
	}
	if https {
		cfg.TLSConfig = s.TLS.ServerConfig(tlsconf.ProtoHTTP)
	}
	return webserver.New(cfg), nil
}

// httpsPort is the bound port of the HTTPS listener (0: none).
func (s *Server) httpsPort() int {
	a, ok := s.Addrs()["https"]
	if !ok {
		return 0
	}
	_, p, _ := net.SplitHostPort(a)
	n, _ := strconv.Atoi(p)
	return n
}

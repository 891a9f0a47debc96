// Package webserver is the public web listener: ACME challenges (http-01
// on the HTTP listener, tls-alpn-01 on the HTTPS one), the client
// autoconfiguration documents and an index page. Plain HTTP redirects to
// HTTPS, except for ACME challenges and Thunderbird's autoconfig, which
// clients fetch over plain HTTP too.
package webserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/acmecert"
	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/autoconfig"
	"github.com/kantorpos/kantorpos/internal/httpguard"
	"github.com/kantorpos/kantorpos/internal/netlimit"
)

// ACME is what the web listener needs of the certificate manager.
type ACME interface {
	// ServeHTTP answers http-01 requests.
	http.Handler
	// ChallengeCertificate answers tls-alpn-01 handshakes.
	ChallengeCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Config builds a Server.
type Config struct {
	// TLSConfig, when set, makes this the HTTPS listener (from
	// tlsconf.ServerConfig(tlsconf.ProtoHTTP)).
	TLSConfig *tls.Config
	// ACME, when set, answers the challenges.
	ACME ACME
	// Autoconfig serves the autoconfiguration documents.
	Autoconfig http.Handler
	// Published names the server and its ports (index page).
	Published func() admin.Published
	// HTTPSPort is the port plain HTTP redirects to; 0: no HTTPS
	// listener, everything is served over HTTP.
	HTTPSPort func() int
	// MaxConnsPerIP and MaxConns bound simultaneous connections from one
	// client address (IPv6: /64) and in all; 0: 20 and 2000.
	MaxConnsPerIP, MaxConns int
	// HandshakeTimeout bounds a TLS handshake (default 10 seconds).
	HandshakeTimeout time.Duration
	Log              *slog.Logger
}

// Server is one web listener.
type Server struct {
	cfg Config
	srv *http.Server
	tls *tls.Config
}

// New builds a web listener.
func New(c Config) *Server {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.HTTPSPort == nil {
		c.HTTPSPort = func() int { return 0 }
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 20
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 2000
	}
	s := &Server{cfg: c}
	s.srv = &http.Server{
		Handler:           httpguard.Requests(s, c.Log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		// TLS handshake errors of scanners are noise: debug level.
		ErrorLog: slog.NewLogLogger(c.Log.Handler(), slog.LevelDebug),
	}
	if c.TLSConfig != nil {
		s.tls = c.TLSConfig.Clone()
		if c.ACME != nil {
			// RFC 8737 3: the validation handshake offers only acme-tls/1.
			s.tls.NextProtos = append(s.tls.NextProtos, acmecert.ALPNProto)
			get := s.tls.GetCertificate
			s.tls.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if slices.Contains(h.SupportedProtos, acmecert.ALPNProto) {
					return c.ACME.ChallengeCertificate(h)
				}
				return get(h)
			}
		}
	}
	return s
}

// Serve serves connections from ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	ln = newLimitListener(ln, s.cfg.MaxConnsPerIP, s.cfg.MaxConns, s.cfg.Log)
	if s.tls != nil {
		ln = netlimit.NewTLSListener(ln, s.tls, s.cfg.HandshakeTimeout, s.cfg.Log)
	}
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and lets requests finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, acmecert.HTTPChallengePrefix):
		if s.cfg.ACME == nil {
			http.NotFound(w, r)
			return
		}
		s.cfg.ACME.ServeHTTP(w, r)
	case s.tls == nil && s.cfg.HTTPSPort() > 0 && !autoconfig.PlainHTTP(p):
		s.redirect(w, r)
	case autoconfig.Handles(p) && s.cfg.Autoconfig != nil:
		s.cfg.Autoconfig.ServeHTTP(w, r)
	case p == "/":
		s.index(w, r)
	default:
		http.NotFound(w, r)
	}
}

// redirect sends a plain HTTP request to the same path over HTTPS, at
// the configured host name: never at the request's Host, which the client
// chose (a Host of evil.test must not make us send anyone to evil.test),
// and the name the certificate is sure to cover.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	var host string
	if s.cfg.Published != nil {
		host = s.cfg.Published().Hostname
	}
	if host == "" {
		http.Error(w, "use https", http.StatusBadRequest)
		return
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port := s.cfg.HTTPSPort(); port != 443 {
		host += ":" + strconv.Itoa(port)
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect // keeps the method and body
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
}

package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/adminweb"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/netlimit"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// adminService serves the admin listener: API, web pages, metrics.
type adminService struct {
	srv *http.Server
	tls *tls.Config // nil: plain HTTP (loopback)
	// handshakeTimeout bounds a TLS handshake (limits.tls_handshake_timeout).
	handshakeTimeout time.Duration
	log              *slog.Logger
}

func (a *adminService) Serve(ln net.Listener) error {
	if a.tls != nil {
		ln = netlimit.NewTLSListener(ln, a.tls, a.handshakeTimeout, a.log)
	}
	if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *adminService) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// adminServer builds the admin HTTP service. Beyond loopback (which the
// configuration allows only with TLS), /metrics asks for a token too.
func (s *Server) adminServer() (service, error) {
	c := s.Config.Admin
	h, err := adminweb.New(adminweb.Config{Secure: c.TLS, MetricsAuth: !config.LoopbackAddr(c.Listen), Hosts: s.adminHosts()}, adminweb.Deps{
		Events: s.Events,
		Ops:    s.Ops, Auth: s.Auth, Metrics: s.Metrics.Handler(), Ready: s.ready,
		Log: s.Log.With("component", "admin"), Clock: s.Clock,
	})
	if err != nil {
		return nil, err
	}
	a := &adminService{srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a DNS check may take a while
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.With("component", "admin").Handler(), slog.LevelWarn),
	}}
	if c.TLS {
		a.tls = s.TLS.ServerConfig(tlsconf.ProtoHTTP)
		a.handshakeTimeout = s.Config.Limits.TLSHandshakeTimeout.D()
		a.log = s.Log.With("component", "admin")
	}
	return a, nil
}

// adminHosts are the names the admin listener answers to (besides
// loopback and the addresses it listens on): the host name, the other
// names of its certificate, and the listen address's name.
func (s *Server) adminHosts() []string {
	names := append([]string{s.Config.Hostname}, s.Config.TLS.ACMENames...)
	// An address in listen is covered by "the address the connection
	// arrived on"; a name is added.
	if h, _, err := net.SplitHostPort(s.Config.Admin.Listen); err == nil && h != "" && net.ParseIP(h) == nil {
		names = append(names, h)
	}
	return names
}

// ready is /readyz: the store answers and every configured listener is bound.
func (s *Server) ready(ctx context.Context) error {
	if err := s.Store.DB().PingContext(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	want := 0
	for _, d := range s.services() {
		if d.addr != "" {
			want++
		}
	}
	if got := len(s.Addrs()); got < want {
		return fmt.Errorf("%d of %d listeners up", got, want)
	}
	return nil
}

// runtimeInfo answers admin.Runtime for Ops.Status.
type runtimeInfo struct {
	s       *Server
	started time.Time

	mu       sync.Mutex
	diskAt   time.Time
	diskUsed int64
}

var _ admin.Runtime = (*runtimeInfo)(nil)

func (r *runtimeInfo) Listeners() []admin.Listener {
	var out []admin.Listener
	for name, addr := range r.s.Addrs() {
		out = append(out, admin.Listener{Name: name, Addr: addr})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *runtimeInfo) EventsToday() map[string]int64 { return r.s.Metrics.EventsToday() }

func (r *runtimeInfo) Certificate() *x509.Certificate { return r.s.TLS.Leaf() }

func (r *runtimeInfo) Started() time.Time { return r.started }

// diskEvery is how long a measured size of the data directory is reused
// (walking a large directory takes a while).
const diskEvery = 5 * time.Minute

func (r *runtimeInfo) Disk() (admin.Disk, error) {
	dir := r.s.Config.DataDir
	d := admin.Disk{Path: dir}
	if abs, err := filepath.Abs(dir); err == nil {
		d.Path = abs
	}
	free, size, err := fsSpace(dir)
	if err != nil {
		return d, err
	}
	d.FreeBytes, d.SizeBytes = free, size
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.diskAt.IsZero() || time.Since(r.diskAt) > diskEvery {
		var used int64
		err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // vanished meanwhile (temp files): skip
			}
			if info, err := e.Info(); err == nil && !e.IsDir() {
				used += info.Size()
			}
			return nil
		})
		if err != nil {
			return d, err
		}
		r.diskUsed, r.diskAt = used, time.Now()
	}
	d.UsedBytes = r.diskUsed
	return d, nil
}

// Package server assembles a whole kantorpos from a configuration: store,
// blob store, authentication, certificates and every protocol service with
// its listeners. `kantorpos serve` and the test harness both use it, so
// tests run exactly the server that users run.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/acmecert"
	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/delivery"
	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/imapserver"
	"github.com/kantorpos/kantorpos/internal/localmail"
	"github.com/kantorpos/kantorpos/internal/metrics"
	"github.com/kantorpos/kantorpos/internal/pop3server"
	"github.com/kantorpos/kantorpos/internal/queue"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/sieve/filter"
	"github.com/kantorpos/kantorpos/internal/srs"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// Options are what a caller injects besides the configuration.
type Options struct {
	Config config.Config
	// Clock defaults to the wall clock; tests use a fake one.
	Clock clock.Clock
	// Resolver defaults to dns.New(Config.DNS.Server).
	Resolver dns.Resolver
	// Log defaults to a logger built from Config.Log writing to stderr.
	Log *slog.Logger
	// HashParams default to auth.DefaultParams; tests use auth.TestParams.
	HashParams *auth.Params
	// Bound are listening sockets by listener name, made by Bind before
	// the process gave up root; Start uses them instead of binding.
	Bound map[string]net.Listener
}

// Server is one running kantorpos.
type Server struct {
	Config   config.Config
	Log      *slog.Logger
	Clock    clock.Clock
	Resolver dns.Resolver
	Store    *sqlstore.Store
	Blobs    blob.Store
	Auth     *auth.Service
	Ops      *admin.Ops
	TLS      *tlsconf.Manager
	Router   *router.Router
	// ACME gets certificates when tls.acme is on (nil otherwise).
	ACME *acmecert.Manager
	// Outbound mail: the remote transport, the injector of generated mail
	// (DSNs) and the queue runner.
	Transport *delivery.Transport
	Injector  *localmail.Injector
	Filter    *filter.Filter
	Queue     *queue.Runner
	// SRS rewrites the sender of forwarded mail and reverses bounces to it.
	SRS *srs.SRS
	// Metrics is this server's Prometheus registry (/metrics).
	Metrics *metrics.Metrics
	// Events writes the mail events and counts them in Metrics.
	Events *events.Log

	mu        sync.Mutex
	listeners []*listener
	imap      *imapserver.Server
	published admin.Published
	workers   sync.WaitGroup
	cancel    context.CancelFunc
	bound     map[string]net.Listener
}

// A service serves connections from listeners until Shutdown.
type service interface {
	Serve(net.Listener) error
	Shutdown(ctx context.Context) error
}

type listener struct {
	name string // "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "managesieve", "admin", "http", "https"
	ln   net.Listener
	svc  service
}

// Bind binds every listener of a configuration, for a process that binds
// ports below 1024 as root and then becomes its service user before it
// opens any data (see Options.Bound). On an error, nothing stays bound.
func Bind(c config.Config) (map[string]net.Listener, error) {
	bound := map[string]net.Listener{}
	for _, d := range (&Server{Config: c}).services() {
		if d.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", d.addr)
		if err != nil {
			for _, l := range bound {
				l.Close()
			}
			return nil, fmt.Errorf("%s: listen on %s: %w", d.name, d.addr, err)
		}
		bound[d.name] = ln
	}
	return bound, nil
}

// NewLogger builds the logger a configuration asks for.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level)) //nolint:errcheck // validated by config
	o := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// New opens the data directory and builds every component; nothing
// listens until Start.
func New(ctx context.Context, o Options) (*Server, error) {
	c := o.Config
	s := &Server{Config: c, Log: o.Log, Clock: o.Clock, Resolver: o.Resolver, bound: o.Bound}
	if s.Log == nil {
		s.Log = NewLogger(c.Log, os.Stderr)
	}
	if s.Clock == nil {
		s.Clock = clock.Real{}
	}
	if s.Resolver == nil {
		s.Resolver = dns.New(c.DNS.Server)
	}
	// The packages that log mail events count them in the metrics
	// through Events, whatever the log level.
	s.Metrics = metrics.New(s.Clock)
	s.Events = events.New(s.Metrics)
	if err := privateDir(c.DataDir, s.Log); err != nil {
		return nil, err
	}
	// Message bodies: files in the data directory, or, in cluster mode
	// (PostgreSQL), in the database, where every node finds them.
	var blobs blob.Store
	if c.Storage.Driver != "postgres" {
		fs, err := blob.NewFS(filepath.Join(c.DataDir, "blobs"), int64(c.Storage.MinFreeDisk))
		if err != nil {
			return nil, err
		}
		fs.CleanTemp(time.Hour) //nolint:errcheck // best effort
		blobs = fs
	}
	st, err := openStore(ctx, c, blobs, s.Clock, s.Log, s.Metrics.ObserveStoreWrite)
	if err != nil {
		return nil, err
	}
	s.Store = st
	s.Metrics.RegisterQueue(func(ctx context.Context) (int, int, time.Time, error) {
		q, err := st.QueueStats(ctx)
		return q.Entries, q.Deferred, q.Oldest, err
	})
	s.Blobs = st.Blobs()
	params := auth.DefaultParams
	if o.HashParams != nil {
		params = *o.HashParams
	}
	hasher := auth.NewHasher(params)
	s.Auth = &auth.Service{
		Events: s.Events,
		Store:  credentials{st},
		Hasher: hasher,
		Limiter: auth.NewLimiter(auth.LimiterConfig{
			FreeFailures: c.Auth.FailuresBeforeDelay, MaxFailures: c.Auth.MaxFailures, Window: c.Auth.FailureWindow.D(),
		}, s.Clock),
		Cache: auth.NewVerifiedCache(c.Auth.CacheTTL.D(), 0, s.Clock),
		Log:   s.Log.With("component", "auth"),
	}
	s.Ops = &admin.Ops{Store: st, Hasher: hasher, Clock: s.Clock, Log: s.Log.With("component", "admin"),
		NewDKIMKeys: admin.GenerateDKIMKeys, Published: admin.PublishedFromConfig(c), Resolver: s.Resolver}
	hosts := []string{c.Hostname}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if h != c.Hostname {
			hosts = append(hosts, h)
		}
	}
	tlsOpts := tlsconf.Options{
		CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
		SelfSignedDir: filepath.Join(c.DataDir, "tls"), Hostnames: hosts, Log: s.Log.With("component", "tls"),
	}
	if c.TLS.ACME {
		if s.ACME, err = s.newACME(); err != nil {
			st.Close()
			return nil, err
		}
		tlsOpts.Provider = s.ACME
	}
	s.TLS, err = tlsconf.New(tlsOpts)
	if err != nil {
		st.Close()
		return nil, err
	}
	key, err := srs.LoadKey(filepath.Join(c.DataDir, "srs.key"))
	if err != nil {
		st.Close()
		return nil, err
	}
	s.SRS = &srs.SRS{Secret: key, Clock: s.Clock}
	s.Router = s.newRouter()
	if err := s.buildQueue(); err != nil {
		st.Close()
		return nil, err
	}
	s.Ops.Bouncer = s.Queue
	s.Ops.Runtime = &runtimeInfo{s: s, started: s.Clock.Now()}
	return s, nil
}

// OpenStore opens the configured store (admin commands use it too). With
// PostgreSQL, blobs may be nil: the store then keeps bodies in the database.
func OpenStore(ctx context.Context, c config.Config, blobs blob.Store, clk clock.Clock, log *slog.Logger) (*sqlstore.Store, error) {
	return openStore(ctx, c, blobs, clk, log, nil)
}

func openStore(ctx context.Context, c config.Config, blobs blob.Store, clk clock.Clock, log *slog.Logger,
	observeWrite func(time.Duration)) (*sqlstore.Store, error) {
	return sqlstore.Open(ctx, sqlstore.Options{
		Driver: c.Storage.Driver, Path: filepath.Join(c.DataDir, "kantorpos.db"), DSN: c.Storage.DSN,
		MaxConns: c.Storage.MaxConns, Blobs: blobs, Clock: clk, Log: log.With("component", "store"),
		ObserveWrite: observeWrite,
	})
}

// Start binds every configured listener, then starts the services and
// background workers. An address with port 0 gets an ephemeral port (see
// Addrs); the ports clients are told about (Published) are the bound ones.
func (s *Server) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	var bound []*listener
	for _, d := range s.services() {
		if d.addr == "" {
			continue
		}
		svc, err := d.make()
		if err == nil {
			ln, ok := s.bound[d.name]
			if !ok {
				ln, err = net.Listen("tcp", d.addr)
			}
			if err == nil {
				ln = s.Metrics.Listener(d.name, s.limitListener(d, ln))
				bound = append(bound, &listener{name: d.name, ln: ln, svc: svc})
				continue
			}
			err = fmt.Errorf("listen on %s: %w", d.addr, err)
			svc.Shutdown(context.Background()) //nolint:errcheck // never served
		}
		for _, l := range bound {
			l.ln.Close()
		}
		s.mu.Lock()
		s.listeners = bound // shut down the services made, served or not
		s.mu.Unlock()
		s.Shutdown(context.Background())
		return fmt.Errorf("%s: %w", d.name, err)
	}
	s.mu.Lock()
	s.listeners = bound
	s.mu.Unlock()
	s.setPublished()
	for _, l := range bound {
		go func() {
			if err := l.svc.Serve(l.ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, pop3server.ErrServerClosed) {
				s.Log.Error("listener stopped", "listener", l.name, "err", err)
			}
		}()
		s.Log.Info("listening", "listener", l.name, "addr", l.ln.Addr().String())
	}
	for _, w := range s.workerList() {
		s.workers.Add(1)
		go func() {
			defer s.workers.Done()
			if err := w.run(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error("worker stopped", "worker", w.name, "err", err)
			}
		}()
	}
	return nil
}

// Addrs maps listener names to their bound addresses.
func (s *Server) Addrs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, l := range s.listeners {
		out[l.name] = l.ln.Addr().String()
	}
	return out
}

// Shutdown stops accepting, lets sessions finish until ctx ends, then
// closes everything and the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.svc.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.Log.Warn("shutdown", "listener", l.name, "err", err)
			}
		}()
	}
	wg.Wait()
	if s.cancel != nil {
		s.cancel()
	}
	s.workers.Wait()
	s.Transport.Close()
	return s.Store.Close()
}

// ReloadCertificates re-reads the certificate files and retries failed
// ACME requests at once (SIGHUP).
func (s *Server) ReloadCertificates() error {
	if s.ACME != nil {
		s.ACME.Retry()
	}
	return s.TLS.Reload()
}

// privateDir creates the data directory 0700, or narrows an existing one to
// its owner: it holds the database (password hashes, DKIM keys), the TLS
// keys and every message.
func privateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		// Not ours to change (another owner): say so, and go on.
		if err := os.Chmod(dir, perm&0o700); err != nil {
			log.Warn("data directory is open to other users", "dir", dir, "mode", perm.String(), "err", err)
			return nil
		}
		log.Warn("data directory was open to other users; now owner only", "dir", dir, "was", perm.String())
	}
	return nil
}

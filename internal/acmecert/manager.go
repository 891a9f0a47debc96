package acmecert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// Challenge types.
const (
	TLSALPN01 = "tls-alpn-01"
	HTTP01    = "http-01"
)

// Options configure a Manager.
type Options struct {
	// Hostname always gets a certificate; it is served to clients that
	// send no server name (most mail clients and servers).
	Hostname string
	// Names are more names to get certificates for. When nil, Domains
	// decides: autoconfig.D and autodiscover.D of every domain D.
	Names   []string
	Domains func(ctx context.Context) ([]string, error)
	// Email is the account contact ("" for none).
	Email string
	// DirectoryURL is the CA's directory.
	DirectoryURL string
	// DirectoryCA is a PEM file of the root that signs the directory's
	// HTTPS certificate ("" trusts the system's roots).
	DirectoryCA string
	// Challenges are the challenge types to use, preferred first.
	Challenges []string
	// Dir keeps the account key, the certificates and status.json.
	Dir string
	// Clock tells the time for renewal decisions (default: the wall clock).
	Clock clock.Clock
	Log   *slog.Logger
	// CheckInterval is how often names and renewals are checked (default
	// one minute: a new domain gets its names within a minute).
	CheckInterval time.Duration
}

// Manager gets certificates and serves them.
type Manager struct {
	o      Options
	client *acme.Client
	caDir  string // Dir/<CA host>
	kick   chan struct{}

	checkMu    sync.Mutex // one check at a time
	mu         sync.RWMutex
	names      map[string]*nameState
	registered bool

	chal challenges
}

// nameState is what is known about one name.
type nameState struct {
	cert      *tls.Certificate
	leaf      *x509.Certificate
	issued    time.Time // last successful request (zero: loaded from disk)
	lastErr   string
	lastErrAt time.Time
	failures  int
	next      time.Time // no request before this (backoff)
}

// New loads the account key (making one the first time) and the cached
// certificates of the host name and Names.
func New(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Minute
	}
	if len(o.Challenges) == 0 {
		return nil, errors.New("acme: no challenge type")
	}
	host, ok := certName(o.Hostname)
	if !ok {
		return nil, fmt.Errorf("acme: host name %q cannot have a certificate from a CA", o.Hostname)
	}
	o.Hostname = host
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	key, err := loadOrMakeKey(filepath.Join(o.Dir, "account.key"))
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(o.DirectoryCA)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		o:      o,
		client: &acme.Client{Key: key, DirectoryURL: o.DirectoryURL, HTTPClient: hc, UserAgent: "kantorpos"},
		caDir:  filepath.Join(o.Dir, caDirName(o.DirectoryURL)),
		kick:   make(chan struct{}, 1),
		names:  map[string]*nameState{},
		chal:   challenges{http: map[string]string{}, alpn: map[string]*tls.Certificate{}},
	}
	if err := os.MkdirAll(m.caDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	m.track(append([]string{o.Hostname}, o.Names...))
	return m, nil
}

// Run checks the names and renewals now and then every CheckInterval (or
// at Retry) until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.o.CheckInterval)
	defer t.Stop()
	for {
		m.check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
	}
}

// Retry forgets the back-off of failed names and checks at once (SIGHUP:
// the operator fixed DNS or a port).
func (m *Manager) Retry() {
	m.mu.Lock()
	for _, st := range m.names {
		st.next = time.Time{}
	}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Certificate implements tlsconf.Provider: the certificate of the name the
// client asked for, else the host name's; nil before the first arrives.
func (m *Manager) Certificate(hello *tls.ClientHelloInfo) *tls.Certificate {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	m.mu.RLock()
	defer m.mu.RUnlock()
	if st := m.names[name]; st != nil && st.cert != nil {
		return st.cert
	}
	if st := m.names[m.o.Hostname]; st != nil && st.cert != nil {
		return st.cert
	}
	return nil
}

// check brings the set of names up to date and requests what is due.
func (m *Manager) check(ctx context.Context) {
	m.checkMu.Lock()
	defer m.checkMu.Unlock()
	names := m.wanted(ctx)
	m.track(names)
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		if m.due(name) {
			m.obtain(ctx, name)
			m.writeStatus()
		}
	}
	m.writeStatus()
}

// wanted lists the names to hold certificates for, host name first.
func (m *Manager) wanted(ctx context.Context) []string {
	names := []string{m.o.Hostname}
	extra := m.o.Names
	if extra == nil && m.o.Domains != nil {
		domains, err := m.o.Domains(ctx)
		if err != nil {
			m.o.Log.Warn("acme: list domains", "err", err)
			return m.current() // keep what we have
		}
		for _, d := range domains {
			extra = append(extra, "autoconfig."+d, "autodiscover."+d)
		}
	}
	for _, n := range extra {
		n, ok := certName(n)
		if !ok {
			m.o.Log.Debug("acme: not a name a CA certifies; skipped", "name", n)
			continue
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func (m *Manager) current() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.names))
	for n := range m.names {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// certName normalises a name (IDNA A-labels) and says whether a public CA
// can certify it: letters, digits and hyphens, at least two labels.
func certName(s string) (string, bool) {
	d, err := mailaddr.ParseDomain(s)
	if err != nil || !strings.Contains(d, ".") || net.ParseIP(d) != nil {
		return s, false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return s, false
		}
	}
	return d, true
}

// track makes names the tracked set: new ones get their cached
// certificate, dropped ones (a deleted domain) are forgotten.
func (m *Manager) track(names []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
		if m.names[n] != nil {
			continue
		}
		st := &nameState{}
		cert, err := loadCert(m.certFile(n))
		switch {
		case err == nil:
			st.cert, st.leaf = cert, cert.Leaf
		case !errors.Is(err, os.ErrNotExist):
			m.o.Log.Warn("acme: cached certificate unusable; requesting a new one", "name", n, "err", err)
		}
		m.names[n] = st
	}
	for n := range m.names {
		if !keep[n] {
			delete(m.names, n)
		}
	}
}

func (m *Manager) certFile(name string) string { return filepath.Join(m.caDir, name+".pem") }

// renewAt is when a certificate is renewed: a third of its lifetime left.
func renewAt(leaf *x509.Certificate) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotBefore.Add(life * 2 / 3)
}

// due says whether a name needs a request now.
func (m *Manager) due(name string) bool {
	now := m.o.Clock.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := m.names[name]
	if st == nil || now.Before(st.next) {
		return false
	}
	return st.leaf == nil || !now.Before(renewAt(st.leaf))
}

// backoff is the wait after the n-th consecutive failure.
func backoff(n int) time.Duration {
	d := 10 * time.Minute
	for i := 1; i < n && d < 12*time.Hour; i++ {
		d *= 2
	}
	return min(d, 12*time.Hour)
}

// obtain requests a certificate for name and records the outcome.
func (m *Manager) obtain(ctx context.Context, name string) {
	m.mu.RLock()
	st := m.names[name]
	challenge := m.o.Challenges[st.failures%len(m.o.Challenges)]
	renewal := st.leaf != nil
	m.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cert, err := m.issue(ctx, name, challenge)
	if err == nil {
		err = saveCert(m.certFile(name), cert)
	}
	now := m.o.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return // shutting down
		}
		st.failures++
		st.lastErr, st.lastErrAt = err.Error(), now
		st.next = now.Add(backoff(st.failures))
		level := slog.LevelWarn
		if st.leaf != nil && st.leaf.NotAfter.Sub(now) < 7*24*time.Hour {
			level = slog.LevelError // the served certificate expires soon
		}
		m.o.Log.Log(ctx, level, "acme: certificate request failed", "name", name, "challenge", challenge,
			"failures", st.failures, "retry_at", st.next, "err", err)
		return
	}
	st.cert, st.leaf, st.issued = cert, cert.Leaf, now
	st.failures, st.lastErr, st.lastErrAt, st.next = 0, "", time.Time{}, time.Time{}
	what := "issued"
	if renewal {
		what = "renewed"
	}
	m.o.Log.Info("acme: certificate "+what, "name", name, "challenge", challenge,
		"not_after", cert.Leaf.NotAfter, "renew_at", renewAt(cert.Leaf), "issuer", cert.Leaf.Issuer.CommonName)
}

// register creates the account once per run (an existing one is reused).
func (m *Manager) register(ctx context.Context) error {
	m.mu.RLock()
	done := m.registered
	m.mu.RUnlock()
	if done {
		return nil
	}
	acct := &acme.Account{}
	if m.o.Email != "" {
		acct.Contact = []string{"mailto:" + m.o.Email}
	}
	_, err := m.client.Register(ctx, acct, acme.AcceptTOS)
	if err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("register account at %s: %w", m.o.DirectoryURL, err)
	}
	m.mu.Lock()
	m.registered = true
	m.mu.Unlock()
	return nil
}

// httpClient talks to the CA, trusting caFile's roots when given.
func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("acme: directory CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme: directory CA %s: no certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}

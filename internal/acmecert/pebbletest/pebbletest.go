// Package pebbletest runs Let's Encrypt's test CA, pebble, in-process on
// loopback for tests: the ACME directory and the management interface
// (pebble's /roots) over HTTPS, and its validation authority, which really
// connects to the challenge ports of the server under test, resolving names
// through a test DNS server.
//
// The validation ports are only known once the server under test listens,
// and that server starts asking for certificates at once. So New starts
// the HTTPS servers first and holds ACME requests until Ready names the
// ports.
package pebbletest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Options configure the CA.
type Options struct {
	// DNS is the address of the DNS server the validation authority
	// asks (over TCP) for the names it validates.
	DNS string
	// Validity of the certificates issued (default 90 days).
	Validity time.Duration
	// AlwaysValid skips validation (PEBBLE_VA_ALWAYS_VALID=1).
	AlwaysValid bool
}

// CA is a running pebble.
type CA struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// DirectoryCAFile is a PEM file of the certificate of the directory's
	// HTTPS server (for tls.acme_directory_ca).
	DirectoryCAFile string

	o      Options
	dir    *httptest.Server
	mgmt   *httptest.Server
	acme   *gate
	admin  *gate
	logBuf *syncBuffer
}

// New starts pebble's HTTPS servers. It sets environment variables for
// pebble (no random validation delay), so the calling test cannot be
// parallel.
func New(t testing.TB, o Options) *CA {
	t.Helper()
	if o.Validity == 0 {
		o.Validity = 90 * 24 * time.Hour
	}
	if st, ok := t.(interface{ Setenv(string, string) }); ok {
		st.Setenv("PEBBLE_VA_NOSLEEP", "1")
		if o.AlwaysValid {
			st.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
		} else {
			st.Setenv("PEBBLE_VA_ALWAYS_VALID", "0")
		}
	}
	c := &CA{o: o, acme: newGate(), admin: newGate(), logBuf: &syncBuffer{}}
	c.dir = httptest.NewTLSServer(c.acme)
	c.mgmt = httptest.NewTLSServer(c.admin)
	c.DirectoryURL = c.dir.URL + wfe.DirectoryPath
	c.DirectoryCAFile = filepath.Join(t.TempDir(), "pebble-directory.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.dir.Certificate().Raw})
	if err := os.WriteFile(c.DirectoryCAFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.acme.open(http.NotFoundHandler())
		c.admin.open(http.NotFoundHandler())
		c.dir.Close()
		c.mgmt.Close()
		if t.Failed() {
			t.Logf("pebble log:\n%s", c.logBuf.String())
		}
	})
	return c
}

// Ready builds the CA with the ports its validation authority connects to
// (http-01 and tls-alpn-01 on 127.0.0.1, through DNS) and lets ACME
// requests through.
func (c *CA) Ready(t testing.TB, httpPort, tlsPort int) {
	t.Helper()
	logger := log.New(c.logBuf, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: uint64(c.o.Validity / time.Second)}}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, httpPort, tlsPort, false, c.o.DNS, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	c.acme.open(front.Handler())
	c.admin.open(front.ManagementHandler())
}

// Roots returns pebble's issuing root, fetched from its management
// interface (/roots/0) as a client of a real deployment would.
func (c *CA) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if data := c.rootsPEM(t); !pool.AppendCertsFromPEM(data) {
		t.Fatalf("pebble roots: no certificate in %q", data)
	}
	return pool
}

// RootsFile writes Roots to a PEM file (for curl --cacert).
func (c *CA) RootsFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(p, c.rootsPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *CA) rootsPEM(t testing.TB) []byte {
	t.Helper()
	client := c.mgmt.Client()
	client.Timeout = 30 * time.Second
	resp, err := client.Get(c.mgmt.URL + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatalf("pebble roots: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble roots: %s %v", resp.Status, err)
	}
	return data
}

// ClientTLS returns a client configuration trusting pebble's root.
func (c *CA) ClientTLS(t testing.TB, serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.Roots(t), ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// gate holds requests until a handler is set.
type gate struct {
	ready chan struct{}
	once  sync.Once
	h     http.Handler
}

func newGate() *gate { return &gate{ready: make(chan struct{})} }

func (g *gate) open(h http.Handler) {
	g.once.Do(func() {
		g.h = h
		close(g.ready)
	})
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-g.ready:
		g.h.ServeHTTP(w, r)
	case <-r.Context().Done():
	}
}

// syncBuffer collects pebble's log (its goroutines may write after the
// test ended, when t.Log would panic).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

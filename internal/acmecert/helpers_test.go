package acmecert

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
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/acmecert/pebbletest"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// rig is a manager with its own challenge listeners, a DNS server that
// sends the validation authority to them, and pebble.
type rig struct {
	m         *Manager
	ca        *pebbletest.CA
	dns       *dnstest.Server
	tlsAddr   string
	cancel    context.CancelFunc
	done      chan error
	challenge *tls.Config
}

// newRig starts pebble, the listeners and (unless o.Dir is set by the
// caller and run is false) runs the manager.
func newRig(t *testing.T, o Options, run bool) *rig {
	t.Helper()
	r := &rig{dns: dnstest.New(t)}
	r.ca = pebbletest.New(t, pebbletest.Options{DNS: r.dns.Addr})
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.DirectoryURL, o.DirectoryCA = r.ca.DirectoryURL, r.ca.DirectoryCAFile
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	httpLn := listen(t)
	tlsLn := listen(t)
	r.tlsAddr = tlsLn.Addr().String()
	hs := &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(httpLn)
	cfg := &tls.Config{NextProtos: []string{"http/1.1", ALPNProto}, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if slices.Contains(h.SupportedProtos, ALPNProto) {
			return m.ChallengeCertificate(h)
		}
		if c := m.Certificate(h); c != nil {
			return c, nil
		}
		return nil, errors.New("no certificate")
	}}
	ts := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go ts.Serve(tls.NewListener(tlsLn, cfg))
	t.Cleanup(func() { hs.Close(); ts.Close() })
	r.ca.Ready(t, port(httpLn), port(tlsLn))
	if run {
		r.run(t)
	}
	return r
}

func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.m.Run(ctx) }()
	t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// status returns the status of name.
func (r *rig) status(name string) NameStatus {
	for _, n := range r.m.Status().Names {
		if n.Name == name {
			return n
		}
	}
	return NameStatus{}
}

// waitIssued waits until name has a certificate other than the one with
// serial old ("": none); a new failure fails the test.
func (r *rig) waitIssued(t *testing.T, name, old string) NameStatus {
	t.Helper()
	failures := r.status(name).Failures
	testutil.WaitFor(t, 60*time.Second, "a certificate for "+name, func() bool {
		s := r.status(name)
		return s.Serial != "" && s.Serial != old || s.Failures > failures
	})
	s := r.status(name)
	if s.Failures > failures {
		t.Fatalf("%s: request failed: %s", name, s.LastError)
	}
	return s
}

// dial handshakes with the TLS listener as a client trusting pebble.
func (r *rig) dial(t *testing.T, serverName string) *tls.ConnectionState {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", r.tlsAddr, r.ca.ClientTLS(t, serverName))
	if err != nil {
		t.Fatalf("handshake as %s: %v", serverName, err)
	}
	defer c.Close()
	cs := c.ConnectionState()
	return &cs
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func port(ln net.Listener) int {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

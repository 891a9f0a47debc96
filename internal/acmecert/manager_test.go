package acmecert

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// Certificates for the host name and more names through tls-alpn-01 and
// http-01, validated for real by pebble against our listeners: served by
// name, the host name's to clients without a server name, and cached
// 0600 on disk.
func TestIssue(t *testing.T) {
	for _, ch := range []string{TLSALPN01, HTTP01} {
		t.Run(ch, func(t *testing.T) {
			dir := t.TempDir()
			r := newRig(t, Options{Hostname: "mx.example.test", Names: []string{"autoconfig.example.test"},
				Email: "postmaster@example.test", Challenges: []string{ch}, Dir: dir}, false)
			r.dns.Add(t, "mx.example.test. A 127.0.0.1", "autoconfig.example.test. A 127.0.0.1")
			r.run(t)
			for _, name := range []string{"mx.example.test", "autoconfig.example.test"} {
				s := r.waitIssued(t, name, "")
				if s.Issuer == "" || !s.RenewAt.After(s.NotBefore) || !s.RenewAt.Before(s.NotAfter) {
					t.Errorf("%s: status %+v", name, s)
				}
				cs := r.dial(t, name)
				if got := cs.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != name {
					t.Errorf("served %v for %s", got, name)
				}
			}
			// No server name: the host name's certificate.
			c := r.m.Certificate(&tls.ClientHelloInfo{})
			if c == nil || c.Leaf.DNSNames[0] != "mx.example.test" {
				t.Fatalf("certificate without SNI: %v", c)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*", "*.pem"))
			files = append(files, filepath.Join(dir, "account.key"))
			if len(files) != 3 {
				t.Fatalf("files %v", files)
			}
			for _, f := range files {
				if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v %v", f, fi.Mode(), err)
				}
			}
			testutil.WaitFor(t, 10*time.Second, "status.json with both names", func() bool {
				st, err := ReadStatus(dir)
				return err == nil && len(st.Names) == 2 && st.Names[0].Name == "mx.example.test" &&
					!st.Names[0].NotAfter.IsZero() && !st.Names[1].NotAfter.IsZero()
			})
		})
	}
}

// A renewal happens once a third of the lifetime is left, without a
// restart; a restarted manager serves the cached certificate at once.
func TestRenewAndRestart(t *testing.T) {
	clk := clock.NewFake(time.Now())
	dir := t.TempDir()
	r := newRig(t, Options{Hostname: "mx.example.test", Names: []string{}, Challenges: []string{TLSALPN01}, Dir: dir, Clock: clk}, false)
	r.dns.Add(t, "mx.example.test. A 127.0.0.1")
	r.run(t)
	first := r.waitIssued(t, "mx.example.test", "")
	if got := r.dial(t, "mx.example.test").PeerCertificates[0].SerialNumber.Text(16); got != first.Serial {
		t.Fatalf("serving serial %s, status says %s", got, first.Serial)
	}

	clk.Set(first.RenewAt.Add(-time.Minute))
	r.m.check(context.Background())
	if s := r.status("mx.example.test"); s.Serial != first.Serial {
		t.Fatal("renewed before the renewal time")
	}
	clk.Set(first.RenewAt.Add(time.Minute))
	r.m.Retry()
	second := r.waitIssued(t, "mx.example.test", first.Serial)
	if second.Issued.IsZero() {
		t.Error("no issue time")
	}
	if s := r.dial(t, "mx.example.test").PeerCertificates[0].SerialNumber.Text(16); s != second.Serial {
		t.Fatal("the listener still serves the old certificate")
	}
	r.stop()

	m2, err := New(Options{Hostname: "mx.example.test", Challenges: []string{TLSALPN01}, Dir: dir,
		DirectoryURL: r.ca.DirectoryURL})
	if err != nil {
		t.Fatal(err)
	}
	c := m2.Certificate(&tls.ClientHelloInfo{ServerName: "mx.example.test"})
	if c == nil || c.Leaf.SerialNumber.Text(16) != second.Serial {
		t.Fatalf("restart does not serve the cached certificate: %v", c)
	}
}

// A name whose DNS is not set up fails alone, backs off, is reported, and
// is retried at once by Retry (SIGHUP) after the fix; names follow the
// domains (a new domain gets its names at the next check).
func TestFailureBackoffAndDomains(t *testing.T) {
	clk := clock.NewFake(time.Now())
	domains := []string{"example.test"}
	var domainsMu = make(chan struct{}, 1)
	domainsMu <- struct{}{}
	list := func(context.Context) ([]string, error) {
		<-domainsMu
		defer func() { domainsMu <- struct{}{} }()
		return append([]string(nil), domains...), nil
	}
	r := newRig(t, Options{Hostname: "mx.example.test", Domains: list, Challenges: []string{HTTP01, TLSALPN01}, Clock: clk}, false)
	r.dns.Add(t, "mx.example.test. A 127.0.0.1", "autoconfig.example.test. A 127.0.0.1")
	r.run(t)
	r.waitIssued(t, "autoconfig.example.test", "")
	r.waitIssued(t, "mx.example.test", "")
	var failed NameStatus
	waitStatus(t, r, "autodiscover.example.test", func(s NameStatus) bool { failed = s; return s.Failures == 1 })
	if failed.LastError == "" || !failed.NextAttempt.Equal(failed.LastErrorAt.Add(10*time.Minute)) || !failed.NotAfter.IsZero() {
		t.Fatalf("failure status %+v", failed)
	}
	if !strings.Contains(failed.LastError, "http-01") {
		t.Errorf("first attempt should use http-01: %s", failed.LastError)
	}
	r.dns.Add(t, "autodiscover.example.test. A 127.0.0.1")
	r.m.Retry()
	// The second attempt uses the next challenge type.
	r.waitIssued(t, "autodiscover.example.test", "")

	<-domainsMu
	domains = append(domains, "new.test")
	domainsMu <- struct{}{}
	r.dns.Add(t, "autoconfig.new.test. A 127.0.0.1", "autodiscover.new.test. A 127.0.0.1")
	r.m.Retry()
	r.waitIssued(t, "autoconfig.new.test", "")
	r.waitIssued(t, "autodiscover.new.test", "")
}

func waitStatus(t *testing.T, r *rig, name string, ok func(NameStatus) bool) {
	t.Helper()
	end := time.Now().Add(60 * time.Second)
	for !ok(r.status(name)) {
		if time.Now().After(end) {
			t.Fatalf("%s: status %+v", name, r.status(name))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]time.Duration{1: 10 * time.Minute, 2: 20 * time.Minute, 4: 80 * time.Minute, 7: 640 * time.Minute, 8: 12 * time.Hour, 50: 12 * time.Hour} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestCertName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"MX.Example.Test": "mx.example.test", "autoconfig.bücher.test": "autoconfig.xn--bcher-kva.test",
		"localhost": "", "[127.0.0.1]": "", "a_b.example.test": "", "127.0.0.1": ""} {
		got, ok := certName(in)
		if ok != (want != "") || ok && got != want {
			t.Errorf("certName(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

package tlsconf

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Certificate files replaced on disk are picked up by Watch without a
// reload signal; a half-written pair keeps the old certificate serving.
func TestWatchReloadsChangedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	pair := func(host string) (c, k []byte) {
		c, k, err := SelfSigned([]string{host}, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	c1, k1 := pair("one.test")
	os.WriteFile(cf, c1, 0o600)
	os.WriteFile(kf, k1, 0o600)
	m, err := New(Options{CertFile: cf, KeyFile: kf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Watch(ctx, 5*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	served := func() string {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.DNSNames[0]
	}
	waitFor(t, "one.test", served)

	// Certificate written, key not yet: the old pair keeps serving.
	c2, k2 := pair("two.test")
	os.WriteFile(cf, c2, 0o600)
	time.Sleep(50 * time.Millisecond) // several watch periods, to show nothing changes
	if got := served(); got != "one.test" {
		t.Fatalf("mismatched pair loaded: serving %s", got)
	}
	os.WriteFile(kf, k2, 0o600)
	waitFor(t, "two.test", served)

	// Same length, same second: compared by content, still seen.
	c3, k3 := pair("six.test")
	os.WriteFile(kf, k3, 0o600)
	os.WriteFile(cf, c3, 0o600)
	waitFor(t, "six.test", served)
}

func waitFor(t *testing.T, want string, got func() string) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for got() != want {
		if time.Now().After(end) {
			t.Fatalf("serving %s, want %s", got(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type fixedProvider struct{ c *tls.Certificate }

func (p fixedProvider) Certificate(h *tls.ClientHelloInfo) *tls.Certificate {
	if h.ServerName == "acme.test" {
		return p.c
	}
	return nil
}

// The provider (ACME) is asked first; without a certificate from it the
// self-signed one serves.
func TestProviderFirst(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM, _ := SelfSigned([]string{"acme.test"}, time.Now().Add(time.Hour))
	pc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{SelfSignedDir: t.TempDir(), Hostnames: []string{"self.test"}, Provider: fixedProvider{&pc}})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "acme.test"}); c != &pc {
		t.Error("provider's certificate not served")
	}
	if c, _ := m.GetCertificate(&tls.ClientHelloInfo{}); c.Leaf.DNSNames[0] != "self.test" {
		t.Errorf("fallback serves %v", c.Leaf.DNSNames)
	}
}

// TLS 1.2 suites: SMTP keeps Go's defaults (a port 25 sender that cannot
// agree would fall back to plaintext); the others take AEAD suites only.
func TestCipherSuites(t *testing.T) {
	t.Parallel()
	if ServerConfig(ProtoSMTP, nil).CipherSuites != nil {
		t.Error("SMTP cipher suites restricted")
	}
	for _, p := range []string{ProtoIMAP, ProtoPOP3, ProtoHTTP} {
		for _, id := range ServerConfig(p, nil).CipherSuites {
			for _, s := range tls.CipherSuites() {
				if s.ID == id && (s.Insecure || len(s.SupportedVersions) == 0) {
					t.Errorf("%s offers %s", p, s.Name)
				}
			}
			if n := tls.CipherSuiteName(id); !strings.Contains(n, "_ECDHE_") ||
				!strings.Contains(n, "_GCM_") && !strings.Contains(n, "_CHACHA20_") {
				t.Errorf("%s offers %s", p, n)
			}
		}
	}
}

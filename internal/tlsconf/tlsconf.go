// Package tlsconf owns certificates (PEM files, or a self-signed certificate
// made once) and builds the tls.Config of each listener: TLS 1.2 or later,
// ALPN set per protocol (so a cross-protocol ALPACA connection fails the
// handshake), session tickets off for SMTP.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options say where the certificate comes from.
type Options struct {
	CertFile, KeyFile string
	// SelfSignedDir, when CertFile is empty, holds a self-signed
	// certificate for Hostnames, made on first use and renewed when it
	// nears expiry or the names change.
	SelfSignedDir string
	Hostnames     []string
	Log           *slog.Logger
	// Provider, when set, is asked first on every handshake (ACME); the
	// files or the self-signed certificate serve when it has none.
	Provider Provider
}

// Provider supplies certificates ahead of the files.
type Provider interface {
	// Certificate returns the certificate for a handshake, or nil.
	Certificate(hello *tls.ClientHelloInfo) *tls.Certificate
}

// Manager serves the current certificate and reloads it on demand.
type Manager struct {
	o      Options
	mu     sync.RWMutex
	cert   *tls.Certificate
	leaf   *x509.Certificate
	digest [sha256.Size]byte // of the files loaded
}

// New loads (or makes) the certificate.
func New(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.CertFile == "" && o.SelfSignedDir == "" {
		return nil, errors.New("tlsconf: no certificate files and no self-signed directory")
	}
	m := &Manager{o: o}
	if err := m.Reload(); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the certificate files again (SIGHUP); a self-signed
// certificate is remade when it expires within 30 days.
func (m *Manager) Reload() error {
	certFile, keyFile := m.o.CertFile, m.o.KeyFile
	if certFile == "" {
		certFile = filepath.Join(m.o.SelfSignedDir, "selfsigned.crt")
		keyFile = filepath.Join(m.o.SelfSignedDir, "selfsigned.key")
		if err := ensureSelfSigned(certFile, keyFile, m.o.Hostnames); err != nil {
			return err
		}
	}
	certPEM, keyPEM, digest, err := readPair(certFile, keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tlsconf: load %s: %w", certFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("tlsconf: parse %s: %w", certFile, err)
	}
	cert.Leaf = leaf
	m.mu.Lock()
	m.cert, m.leaf, m.digest = &cert, leaf, digest
	m.mu.Unlock()
	m.o.Log.Info("certificate loaded", "file", certFile, "names", leaf.DNSNames, "not_after", leaf.NotAfter)
	return nil
}

// GetCertificate is for tls.Config.GetCertificate: the provider's
// certificate when it has one, else the files' or the self-signed one.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.o.Provider != nil {
		if c := m.o.Provider.Certificate(hello); c != nil {
			return c, nil
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cert, nil
}

// Leaf returns the certificate of the files or the self-signed one (for
// status pages and metrics; the provider reports its own).
func (m *Manager) Leaf() *x509.Certificate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.leaf
}

// ALPN protocol identifiers (IANA registry).
const (
	ProtoSMTP = "smtp"
	ProtoIMAP = "imap"
	ProtoPOP3 = "pop3"
	ProtoHTTP = "http/1.1"
	// ProtoManageSieve is RFC 5804's ALPN identifier.
	ProtoManageSieve = "managesieve"
)

// ServerConfig returns the tls.Config for a listener of proto.
func (m *Manager) ServerConfig(proto string) *tls.Config {
	return ServerConfig(proto, m.GetCertificate)
}

// ServerConfig builds a server tls.Config around a certificate source.
func ServerConfig(proto string, get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: get,
		NextProtos:     []string{proto},
	}
	if proto == ProtoHTTP {
		c.NextProtos = []string{"h2", ProtoHTTP}
	}
	if proto == ProtoSMTP {
		// Microsoft's SMTP client fails STARTTLS when offered tickets by Go.
		c.SessionTicketsDisabled = true
	} else {
		// Clients of IMAP, POP3 and HTTPS are current software: TLS 1.2
		// only with forward-secret AEAD suites (TLS 1.3 suites are all
		// AEAD). SMTP keeps Go's wider default list: on port 25 a sender
		// that cannot agree falls back to plaintext, which is worse.
		c.CipherSuites = ModernCipherSuites
	}
	return c
}

// ModernCipherSuites are the TLS 1.2 suites of every listener but SMTP.
var ModernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func ensureSelfSigned(certFile, keyFile string, hosts []string) error {
	if data, err := os.ReadFile(certFile); err == nil {
		if block, _ := pem.Decode(data); block != nil {
			if c, err := x509.ParseCertificate(block.Bytes); err == nil &&
				time.Until(c.NotAfter) > 30*24*time.Hour && sameNames(c, hosts) {
				if _, err := os.Stat(keyFile); err == nil {
					// Older versions wrote the certificate 0644.
					return os.Chmod(certFile, 0o600)
				}
			}
		}
	}
	certPEM, keyPEM, err := SelfSigned(hosts, time.Now().Add(2*365*24*time.Hour))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM, 0o600) // public, but nothing in the data directory is others'
}

func sameNames(c *x509.Certificate, hosts []string) bool {
	have := map[string]bool{}
	for _, n := range c.DNSNames {
		have[n] = true
	}
	for _, ip := range c.IPAddresses {
		have[ip.String()] = true
	}
	for _, h := range hosts {
		if !have[h] {
			return false
		}
	}
	return true
}

// SelfSigned makes an ECDSA P-256 certificate for hosts (names or IPs).
func SelfSigned(hosts []string, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	cn := "kantorpos"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"kantorpos self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// TestCertificate makes a self-signed certificate for names (host names or
// IP addresses; default localhost, 127.0.0.1 and ::1), valid for a day, for
// tests over loopback. It returns the certificate with its key (in memory
// only: no key is ever written or committed), the certificate in PEM, and a
// pool that trusts it.
func TestCertificate(names ...string) (tls.Certificate, []byte, *x509.CertPool, error) {
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1", "::1"}
	}
	certPEM, keyPEM, err := SelfSigned(names, time.Now().Add(24*time.Hour))
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return cert, certPEM, pool, nil
}

// TestConfig returns a server and a client config that trusts it, for tests
// over loopback. The key exists only in memory.
func TestConfig(proto string) (server, client *tls.Config, err error) {
	cert, _, pool, err := TestCertificate()
	if err != nil {
		return nil, nil, err
	}
	server = ServerConfig(proto, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	client = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return server, client, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconf: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconf: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconf: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	return nil
}

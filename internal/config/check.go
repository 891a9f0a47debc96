package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// CheckEnvironment checks what a configuration needs from the machine it
// runs on, beyond what Validate sees in the text: that every listen address
// can be bound now (bound and closed at once), that the certificate and key
// files exist and belong together, that the data directory is writable, and
// that a configured DNS server answers. `kantorpos config check` runs it;
// warnings are things that may be right (a port below 1024 for a user
// without the capability to bind it) and do not fail the check.
func (c *Config) CheckEnvironment(ctx context.Context) (problems Problems, warnings []string) {
	bad := func(key, f string, a ...any) {
		problems = append(problems, Problem{Key: key, Msg: fmt.Sprintf(f, a...)})
	}
	for _, l := range c.ListenAddrs() {
		ln, err := net.Listen("tcp", l.Addr)
		switch {
		case err == nil:
			ln.Close()
		case errors.Is(err, syscall.EADDRINUSE):
			bad(l.Key, "%s %q: the address is in use (is kantorpos, or another server, already running?)", l.Key, l.Addr)
		case errors.Is(err, syscall.EACCES):
			warnings = append(warnings, fmt.Sprintf("%s %q: this user may not bind it (ports below 1024 need root or CAP_NET_BIND_SERVICE, as the systemd unit grants)", l.Key, l.Addr))
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			bad(l.Key, "%s %q: no such address on this machine", l.Key, l.Addr)
		default:
			bad(l.Key, "%s %q: %v", l.Key, l.Addr, err)
		}
	}
	if c.TLS.CertFile != "" && c.TLS.KeyFile != "" {
		c.checkCertificate(bad, &warnings)
	}
	if err := checkWritableDir(c.DataDir); err != nil {
		bad("data_dir", "data_dir %q: %v", c.DataDir, err)
	}
	if c.DNS.Server != "" {
		if err := checkResolver(ctx, c.DNS.Server, c.Hostname); err != nil {
			bad("dns.server", "dns.server %q does not answer: %v", c.DNS.Server, err)
		}
	}
	return problems, warnings
}

func (c *Config) checkCertificate(bad func(key, f string, a ...any), warnings *[]string) {
	for _, f := range []struct{ key, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
		if _, err := os.Stat(f.path); err != nil {
			bad(f.key, "%s: %v", f.key, err)
			return
		}
	}
	pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		bad("tls.cert_file", "tls.cert_file and tls.key_file: %v", err)
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		bad("tls.cert_file", "tls.cert_file: %v", err)
		return
	}
	if time.Now().After(leaf.NotAfter) {
		bad("tls.cert_file", "tls.cert_file: the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	if c.Hostname != "" && leaf.VerifyHostname(c.Hostname) != nil {
		*warnings = append(*warnings, fmt.Sprintf("tls.cert_file: the certificate is not valid for hostname %q (it names %v)", c.Hostname, leaf.DNSNames))
	}
}

// checkWritableDir says whether this process can write in dir, or create
// it when it does not exist yet (serve creates it, 0700).
func checkWritableDir(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) && filepath.Dir(d) != d {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", d)
		}
		f, err := os.CreateTemp(d, ".kantorpos-check-*")
		if err != nil {
			return fmt.Errorf("not writable by this user (uid %d): %w", os.Getuid(), err)
		}
		name := f.Name()
		f.Close()
		return os.Remove(name)
	}
}

// checkResolver asks server for the A records of name; any DNS answer,
// NXDOMAIN included, shows that it is reachable.
func checkResolver(ctx context.Context, server, name string) error {
	if name == "" {
		name = "localhost"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	_, err := r.LookupHost(ctx, name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil
	}
	return err
}

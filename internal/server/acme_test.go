package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/acmecert"
	"github.com/kantorpos/kantorpos/internal/acmecert/pebbletest"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/testenv"
	"github.com/kantorpos/kantorpos/internal/tlsprobe"
)

// startACME starts pebble and a server with tls.acme on; pebble validates
// for real against the server's web listeners, names resolving to
// 127.0.0.1 through the test DNS server.
func startACME(t *testing.T, challenges []string) (*testenv.Env, *pebbletest.CA, *clock.Fake) {
	t.Helper()
	dns := dnstest.New(t)
	dns.Add(t, "mx.example.test. A 127.0.0.1", "autoconfig.example.test. A 127.0.0.1", "autodiscover.example.test. A 127.0.0.1")
	ca := pebbletest.New(t, pebbletest.Options{DNS: dns.Addr})
	clk := clock.NewFake(time.Now())
	e := testenv.Start(t, testenv.Options{DNS: dns, Clock: clk, Configure: func(c *config.Config) {
		c.TLS.ACME = true
		c.TLS.ACMEEmail = "postmaster@example.test"
		c.TLS.ACMEDirectory = ca.DirectoryURL
		c.TLS.ACMEDirectoryCA = ca.DirectoryCAFile
		c.TLS.ACMEChallenges = challenges
	}})
	e.AddUser(t, "bob@example.test", "bob's password")
	ca.Ready(t, portOf(t, e.Addr["http"]), portOf(t, e.Addr["https"]))
	// The domain came after the first check: check again now rather than
	// at the next minute (SIGHUP does the same).
	e.Server.ReloadCertificates()
	return e, ca, clk
}

func acmeStatus(e *testenv.Env, name string) acmecert.NameStatus {
	for _, n := range e.Server.ACME.Status().Names {
		if n.Name == name {
			return n
		}
	}
	return acmecert.NameStatus{}
}

// waitCert waits for a certificate for name other than serial old.
func waitCert(t *testing.T, e *testenv.Env, name, old string) acmecert.NameStatus {
	t.Helper()
	testenv.WaitFor(t, 90*time.Second, "an ACME certificate for "+name, func() bool {
		s := acmeStatus(e, name)
		return s.Serial != "" && s.Serial != old || s.Failures > 0
	})
	s := acmeStatus(e, name)
	if s.Failures > 0 {
		t.Fatalf("%s: %s", name, s.LastError)
	}
	return s
}

// leafOver connects to a mail listener (TLS at once or by STARTTLS) as a
// client trusting only pebble's root, with or without a server name, and
// returns the verified certificate served.
func leafOver(t *testing.T, roots *x509.CertPool, l tlsprobe.Listener, sni bool) *x509.Certificate {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "mx.example.test", MinVersion: tls.VersionTLS12}
	if !sni {
		// No SNI (as many SMTP clients): verify by hand against the host name.
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, //nolint:gosec // verified below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if cs.ServerName != "" {
					return errors.New("SNI was sent")
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "mx.example.test"})
				return err
			}}
	}
	c, _, err := tlsprobe.Connect(context.Background(), l, cfg)
	if err != nil {
		t.Fatalf("%s (SNI %v): %v", l.Name, sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// With tls.acme, the server gets certificates from pebble (real tls-alpn-01
// validation against its HTTPS listener) for its host name and the
// autoconfig names of its domain; every mail listener serves the host
// name's certificate, with or without SNI; a renewal (a third of the
// lifetime left, then SIGHUP's retry) replaces it without a restart.
func TestACMEIssuesAndRenews(t *testing.T) {
	e, ca, clk := startACME(t, []string{"tls-alpn-01"})
	first := waitCert(t, e, "mx.example.test", "")
	waitCert(t, e, "autoconfig.example.test", "")
	waitCert(t, e, "autodiscover.example.test", "")
	roots := ca.Roots(t)
	listeners := []tlsprobe.Listener{
		{Name: "submissions", Addr: e.Addr["submissions"], Mode: tlsprobe.Implicit, Proto: "smtp"},
		{Name: "submission", Addr: e.Addr["submission"], Mode: tlsprobe.STARTTLS, Proto: "smtp"},
		{Name: "smtp", Addr: e.Addr["smtp"], Mode: tlsprobe.STARTTLS, Proto: "smtp"},
		{Name: "imaps", Addr: e.Addr["imaps"], Mode: tlsprobe.Implicit, Proto: "imap"},
		{Name: "imap", Addr: e.Addr["imap"], Mode: tlsprobe.STARTTLS, Proto: "imap"},
		{Name: "pop3s", Addr: e.Addr["pop3s"], Mode: tlsprobe.Implicit, Proto: "pop3"},
		{Name: "pop3", Addr: e.Addr["pop3"], Mode: tlsprobe.STARTTLS, Proto: "pop3"},
	}
	for _, l := range listeners {
		for _, sni := range []bool{true, false} {
			leaf := leafOver(t, roots, l, sni)
			if leaf.SerialNumber.Text(16) != first.Serial || leaf.Issuer.CommonName != first.Issuer {
				t.Errorf("%s serves %s from %s; ACME status says %s from %s", l.Name, leaf.SerialNumber.Text(16),
					leaf.Issuer.CommonName, first.Serial, first.Issuer)
			}
		}
	}

	// A third of the lifetime left: renewed without a restart (SIGHUP's
	// check rather than the next minute's), and the listeners serve the
	// new certificate.
	clk.Set(first.RenewAt.Add(time.Minute))
	if err := e.Server.ReloadCertificates(); err != nil {
		t.Fatal(err)
	}
	second := waitCert(t, e, "mx.example.test", first.Serial)
	for _, l := range listeners {
		if got := leafOver(t, roots, l, false).SerialNumber.Text(16); got != second.Serial {
			t.Errorf("%s serves %s after the renewal to %s", l.Name, got, second.Serial)
		}
	}
	st, err := acmecert.ReadStatus(e.DataDir + "/acme")
	if err != nil || len(st.Names) != 3 || st.Names[0].Name != "mx.example.test" {
		t.Errorf("status.json: %+v %v", st, err)
	}

	// curl (a client we did not write) verifies autoconfig.example.test's
	// own certificate on the HTTPS listener, trusting only pebble's root.
	if curl, err := exec.LookPath("curl"); err == nil {
		port := strconv.Itoa(portOf(t, e.Addr["https"]))
		out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "20", "--cacert", ca.RootsFile(t),
			"--resolve", "autoconfig.example.test:"+port+":127.0.0.1",
			"https://autoconfig.example.test:"+port+"/mail/config-v1.1.xml?emailaddress=bob%40example.test").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "<domain>example.test</domain>") {
			t.Errorf("curl over https: %v\n%s", err, out)
		}
	} else {
		testenv.NeedCommand(t, "curl", "curl") // last: a skip here skips nothing else
	}
}

// http-01 works too, on the plain HTTP listener (which must not redirect
// the challenge).
func TestACMEHTTP01(t *testing.T) {
	e, ca, _ := startACME(t, []string{"http-01"})
	waitCert(t, e, "mx.example.test", "")
	leaf := leafOver(t, ca.Roots(t), tlsprobe.Listener{Name: "pop3s", Addr: e.Addr["pop3s"], Mode: tlsprobe.Implicit, Proto: "pop3"}, true)
	if leaf.DNSNames[0] != "mx.example.test" {
		t.Fatalf("pop3s serves %v", leaf.DNSNames)
	}
}

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
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
)

// `kantorpos status` probes a running server's listeners: TLS 1.2 and 1.3
// only, its own ALPN protocol and no other, no session tickets on SMTP,
// no CBC suites but on SMTP, and the certificate (trusted with -cafile).
// A listener that is down makes it fail.
func TestStatusProbesListeners(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	write := func(imaps string) string {
		p := filepath.Join(t.TempDir(), "k.toml")
		text := fmt.Sprintf(`hostname = "mx.example.test"
data_dir = %q
[smtp]
listen = %q
[submission]
listen = %q
listen_tls = %q
[imap]
listen = %q
listen_tls = %q
[pop3]
listen = %q
listen_tls = %q
[managesieve]
listen = ""
[admin]
listen = ""
[web]
listen = %q
listen_tls = %q
`, e.DataDir, e.Addr["smtp"], e.Addr["submission"], e.Addr["submissions"], e.Addr["imap"], imaps, e.Addr["pop3"], e.Addr["pop3s"],
			e.Addr["http"], e.Addr["https"])
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	code, out, errOut := runCmd(t, "", "status", "-config", write(e.Addr["imaps"]), "-cafile", filepath.Join(e.DataDir, "tls", "selfsigned.crt"))
	if code != 0 {
		t.Fatalf("status: %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("\n%s", out)
	rows := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rows[f[0]] = l
		}
	}
	for name, want := range map[string]string{
		"smtp":        `starttls +TLS 1\.2,1\.3 +smtp, others refused +off +on +mx\.example\.test .*; trusted$`,
		"submission":  `starttls +TLS 1\.2,1\.3 +smtp, others refused +off +on +.*; trusted$`,
		"submissions": `implicit +TLS 1\.2,1\.3 +smtp, others refused +off +on +.*; trusted$`,
		"imap":        `starttls +TLS 1\.2,1\.3 +imap, others refused +on +off +.*; trusted$`,
		"imaps":       `implicit +TLS 1\.2,1\.3 +imap, others refused +on +off +.*; trusted$`,
		"pop3":        `starttls +TLS 1\.2,1\.3 +pop3, others refused +on +off +.*; trusted$`,
		"pop3s":       `implicit +TLS 1\.2,1\.3 +pop3, others refused +on +off +.*; trusted$`,
		"https":       `implicit +TLS 1\.2,1\.3 +http/1\.1, others refused +on +off +.*; trusted$`,
		"http":        `none`,
	} {
		if !regexp.MustCompile(want).MatchString(rows[name]) {
			t.Errorf("%s: %q does not match %q", name, rows[name], want)
		}
	}
	if !strings.Contains(out, "ACME is off; the listeners serve a self-signed certificate") {
		t.Errorf("no certificate source line:\n%s", out)
	}

	// Without -cafile the self-signed certificate is not trusted; a
	// listener that is down fails the command.
	code, out, errOut = runCmd(t, "", "status", "-config", write(closedAddr))
	if code != 1 || !strings.Contains(out, "NOT TRUSTED") || !regexp.MustCompile(`imaps +`+regexp.QuoteMeta(closedAddr)+` +implicit +not reachable +- +- +- +dial tcp`).MatchString(out) ||
		!strings.Contains(errOut, "1 of 9 listeners are not reachable") {
		t.Errorf("status with a listener down: %d\n%s\n%s", code, out, errOut)
	}
}

// With ACME on, status shows the listeners serving the CA's certificate
// (trusted with the CA's root) and the certificates the server recorded.
func TestStatusWithACME(t *testing.T) {
	dns := dnstest.New(t)
	dns.Add(t, "mx.example.test. A 127.0.0.1")
	ca := pebbletest.New(t, pebbletest.Options{DNS: dns.Addr})
	e := testenv.Start(t, testenv.Options{DNS: dns, Clock: clock.NewFake(time.Now()), Configure: func(c *config.Config) {
		c.TLS.ACME, c.TLS.ACMENames = true, []string{}
		c.TLS.ACMEDirectory, c.TLS.ACMEDirectoryCA = ca.DirectoryURL, ca.DirectoryCAFile
	}})
	_, hp, _ := net.SplitHostPort(e.Addr["http"])
	_, tp, _ := net.SplitHostPort(e.Addr["https"])
	httpPort, _ := strconv.Atoi(hp)
	tlsPort, _ := strconv.Atoi(tp)
	ca.Ready(t, httpPort, tlsPort)
	testenv.WaitFor(t, 60*time.Second, "the ACME certificate in status.json", func() bool {
		st, err := acmecert.ReadStatus(filepath.Join(e.DataDir, "acme"))
		return err == nil && len(st.Names) == 1 && st.Names[0].Serial != ""
	})
	p := filepath.Join(t.TempDir(), "k.toml")
	os.WriteFile(p, []byte(fmt.Sprintf(`hostname = "mx.example.test"
data_dir = %q
[tls]
acme = true
acme_directory = %q
[smtp]
listen = ""
[submission]
listen = ""
listen_tls = %q
[imap]
listen = ""
listen_tls = ""
[pop3]
listen = ""
listen_tls = ""
[managesieve]
listen = ""
[admin]
listen = ""
[web]
listen = %q
listen_tls = %q
`, e.DataDir, ca.DirectoryURL, e.Addr["submissions"], e.Addr["http"], e.Addr["https"])), 0o600)
	code, out, errOut := runCmd(t, "", "status", "-config", p, "-cafile", ca.RootsFile(t))
	t.Logf("\n%s", out)
	if code != 0 || !regexp.MustCompile(`submissions +\S+ +implicit .* mx\.example\.test; expires \S+; issuer Pebble Intermediate CA \w+; trusted`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^mx\.example\.test +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d +Pebble Intermediate CA \w+ +-$`).MatchString(out) {
		t.Errorf("status with ACME: %d\n%s\n%s", code, out, errOut)
	}
}

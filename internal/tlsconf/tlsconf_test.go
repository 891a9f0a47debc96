package tlsconf

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedPersistsAndReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, err := New(Options{SelfSignedDir: dir, Hostnames: []string{"mail.example.test", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	first := m.Leaf()
	if first.DNSNames[0] != "mail.example.test" || len(first.IPAddresses) != 1 {
		t.Fatalf("names = %v %v", first.DNSNames, first.IPAddresses)
	}
	fi, _ := os.Stat(filepath.Join(dir, "selfsigned.key"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode = %v", fi.Mode())
	}
	m2, _ := New(Options{SelfSignedDir: dir, Hostnames: []string{"mail.example.test"}})
	if m2.Leaf().SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("certificate regenerated although still valid")
	}
	m3, _ := New(Options{SelfSignedDir: dir, Hostnames: []string{"other.example.test"}})
	if m3.Leaf().SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("certificate not regenerated for a new name")
	}
}

func TestFilesAndReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	write := func(host string) {
		c, k, err := SelfSigned([]string{host}, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(cf, c, 0o600)
		os.WriteFile(kf, k, 0o600)
	}
	write("one.test")
	m, err := New(Options{CertFile: cf, KeyFile: kf})
	if err != nil {
		t.Fatal(err)
	}
	write("two.test")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if m.Leaf().DNSNames[0] != "two.test" {
		t.Fatalf("not reloaded: %v", m.Leaf().DNSNames)
	}
	os.WriteFile(cf, []byte("garbage"), 0o600)
	if err := m.Reload(); err == nil {
		t.Fatal("bad file accepted")
	}
	if m.Leaf().DNSNames[0] != "two.test" {
		t.Fatal("a failed reload must keep the old certificate")
	}
}

// A client that asks for another protocol by ALPN fails the handshake
// (cross-protocol attacks, ALPACA); one that asks for none or ours succeeds.
func TestALPN(t *testing.T) {
	t.Parallel()
	srv, cli, err := TestConfig(ProtoIMAP)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	for _, tt := range []struct {
		protos []string
		ok     bool
	}{{nil, true}, {[]string{"imap"}, true}, {[]string{"http/1.1"}, false}, {[]string{"smtp"}, false}} {
		c := cli.Clone()
		c.NextProtos = tt.protos
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), c)
		if (err == nil) != tt.ok {
			t.Errorf("ALPN %v: err = %v, want ok=%v", tt.protos, err, tt.ok)
		}
		if err == nil {
			if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
				t.Errorf("version %x", v)
			}
			conn.Close()
		} else if !strings.Contains(err.Error(), "protocol") {
			t.Errorf("ALPN %v: unexpected error %v", tt.protos, err)
		}
	}
	if !ServerConfig(ProtoSMTP, nil).SessionTicketsDisabled {
		t.Error("SMTP must not offer session tickets")
	}
}

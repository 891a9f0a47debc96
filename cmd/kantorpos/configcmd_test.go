package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// A configuration whose listeners are all on free loopback ports and whose
// data directory is writable: what `config check` passes.
func goodConfig(t *testing.T) string {
	t.Helper()
	return "hostname = \"mx.example.test\"\ndata_dir = \"" + t.TempDir() + "\"\n" + `
[smtp]
listen = "127.0.0.1:0"
[submission]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
[imap]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
[pop3]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[web]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
`
}

// `config check` catches the mistakes a new administrator made (issue:
// "Run it for real"), each named with its key and line.
func TestConfigCheckCatchesMistakes(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	dir := t.TempDir()
	certA, keyA, err := tlsconf.SelfSigned([]string{"mx.example.test"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, keyB, err := tlsconf.SelfSigned([]string{"mx.example.test"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, otherKey := write("cert.pem", certA), write("key.pem", keyA), write("other-key.pem", keyB)
	notDir := write("plain-file", []byte("x"))
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // a "DNS server" that never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	dnsSrv := dnstest.New(t)

	tests := []struct {
		name string
		edit func(string) string
		want string // "" = ok
	}{
		{"good", func(s string) string { return s }, ""},
		{"good with certificate files and a DNS server", func(s string) string {
			return strings.Replace(s, "[smtp]", "[tls]\ncert_file = \""+cert+"\"\nkey_file = \""+key+"\"\n[dns]\nserver = \""+dnsSrv.Addr+"\"\n[smtp]", 1)
		}, ""},
		{"hostname unset", func(s string) string {
			return strings.Replace(s, `hostname = "mx.example.test"`, "# hostname = \"\"", 1)
		},
			"hostname is not set"},
		{"hostname localhost.localdomain", func(s string) string {
			return strings.Replace(s, `"mx.example.test"`, `"localhost.localdomain"`, 1)
		}, `hostname "localhost.localdomain" is not a fully qualified host name (like mail.example.org) (line 1)`},
		{"port in use", func(s string) string {
			return strings.Replace(s, "[smtp]\nlisten = \"127.0.0.1:0\"", "[smtp]\nlisten = \""+busy.Addr().String()+"\"", 1)
		}, "smtp.listen \"" + busy.Addr().String() + "\": the address is in use (is kantorpos, or another server, already running?) (line 5)"},
		{"two listeners on one address", func(s string) string {
			s = strings.Replace(s, "[smtp]\nlisten = \"127.0.0.1:0\"", "[smtp]\nlisten = \"127.0.0.1:1143\"", 1)
			return strings.Replace(s, "[pop3]\nlisten = \"127.0.0.1:0\"", "[pop3]\nlisten = \"127.0.0.1:1143\"", 1)
		}, "pop3.listen \"127.0.0.1:1143\": the same port on the same address as smtp.listen (line 13)"},
		{"missing certificate files", func(s string) string {
			return strings.Replace(s, "[smtp]", "[tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n[smtp]", 1)
		}, "tls.cert_file: stat /nonexistent/cert.pem: no such file or directory (line 5)"},
		{"certificate and key that do not match", func(s string) string {
			return strings.Replace(s, "[smtp]", "[tls]\ncert_file = \""+cert+"\"\nkey_file = \""+otherKey+"\"\n[smtp]", 1)
		}, "private key does not match public key"},
		{"insecure auth on a public address", func(s string) string {
			return strings.Replace(s, "[pop3]\nlisten = \"127.0.0.1:0\"", "[pop3]\nlisten = \"0.0.0.0:0\"\nallow_insecure_auth = true", 1)
		}, "pop3.allow_insecure_auth: plaintext passwords on \"0.0.0.0:0\", which other hosts reach: allowed on loopback addresses only"},
		{"postmaster not an address", func(s string) string {
			return strings.Replace(s, "[smtp]", "[smtp]\npostmaster = \"not an address\"", 1)
		}, `smtp.postmaster "not an address" is not an address (user@domain) (line 5)`},
		{"data directory that cannot be written", func(s string) string {
			return strings.Replace(s, "data_dir = \""+extractDataDir(s)+"\"", "data_dir = \""+notDir+"/data\"", 1)
		}, "data_dir"},
		{"DNS server that does not answer", func(s string) string {
			return strings.Replace(s, "[smtp]", "[dns]\nserver = \""+silent.LocalAddr().String()+"\"\n[smtp]", 1)
		}, "dns.server \"" + silent.LocalAddr().String() + "\" does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "kantorpos.toml")
			if err := os.WriteFile(p, []byte(tt.edit(goodConfig(t))), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCmd(t, "", "config", "check", "-config", p)
			if tt.want == "" {
				if code != 0 || !strings.Contains(out, "ok") {
					t.Fatalf("config check: %d %q %q", code, out, errOut)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("config check: code %d, stderr %q; want %q", code, errOut, tt.want)
			}
		})
	}
}

func extractDataDir(s string) string {
	_, rest, _ := strings.Cut(s, "data_dir = \"")
	dir, _, _ := strings.Cut(rest, "\"")
	return dir
}

// Every command finds the configuration in KANTORPOS_CONFIG, and else in
// the system's file; admin commands never create a data directory.
func TestConfigPathAndNoDataDirCreated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "not-yet")
	p := filepath.Join(dir, "k.toml")
	if err := os.WriteFile(p, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+missing+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runEnv := func(getenv func(string) string, system string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: getenv, systemConfig: system}
		return run(context.Background(), e, args), out.String() + errb.String()
	}
	fromEnv := func(k string) string {
		if k == "KANTORPOS_CONFIG" {
			return p
		}
		return ""
	}
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		system string
		args   []string
	}{
		{"-config", nil, "", []string{"user", "list", "-config", p}},
		{"KANTORPOS_CONFIG", fromEnv, "", []string{"user", "list"}},
		{"system file", nil, p, []string{"domain", "list"}},
		{"an error in the command line", nil, p, []string{"user", "-config", p}},
		{"import", fromEnv, "", []string{"export", "mbox", "--account", "bob@example.test", filepath.Join(dir, "out")}},
	} {
		code, out := runEnv(tc.getenv, tc.system, tc.args...)
		if code == 0 {
			t.Errorf("%s: %v succeeded without a data directory: %q", tc.name, tc.args, out)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("%s: %v created the data directory %s", tc.name, tc.args, missing)
		}
		if !strings.Contains(out, "does not exist") && !strings.Contains(out, "usage") {
			t.Errorf("%s: %q", tc.name, out)
		}
	}
	// config check follows KANTORPOS_CONFIG too.
	if code, out := runEnv(fromEnv, "", "config", "check"); !strings.Contains(out, p) {
		t.Errorf("config check without -config: %d %q", code, out)
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0 (go1.27.3)"},
		{debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "88683b4e0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-07T20:00:00Z"},
			{Key: "vcs.modified", Value: "true"}}}, "revision 88683b4e0123+dirty of 2026-12-07T20:00:00Z (go1.27.3)"},
		{debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}}, "built from source (go1.27.3)"},
	} {
		if got := versionFrom(&tc.bi); got != tc.want {
			t.Errorf("versionFrom = %q, want %q", got, tc.want)
		}
	}
	if code, out, _ := runCmd(t, "", "version"); code != 0 || strings.Contains(out, "dev") && !strings.Contains(out, "devel") {
		t.Errorf("version: %d %q", code, out)
	}
}

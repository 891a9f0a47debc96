package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultTextMatchesDefault(t *testing.T) {
	t.Parallel()
	// The host name is the machine's when that is fully qualified, else
	// unset: default.toml leaves it commented out either way.
	c := Default()
	c.Hostname = "mx.example.test"
	if err := Decode([]byte(DefaultText), &c); err != nil {
		t.Fatal(err)
	}
	def := Default()
	def.Hostname = "mx.example.test"
	if !reflect.DeepEqual(c, def) {
		t.Fatalf("default.toml and Default() differ:\n%+v\n%+v", c, def)
	}
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	d := Dev()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		err        string
		check      func(Config) bool
	}{
		{"durations and sizes", "[queue]\nretry_interval = \"5m\"\nmax_age = \"48h\"\n[smtp]\nmax_message_size = \"10MiB\"\n",
			"", func(c Config) bool {
				return c.Queue.RetryInterval.D() == 5*time.Minute && c.Queue.MaxAge.D() == 48*time.Hour && c.SMTP.MaxMessageSize == 10<<20
			}},
		{"size as number", "[smtp]\nmax_message_size = 100000\n", "", func(c Config) bool { return c.SMTP.MaxMessageSize == 100000 }},
		{"disable a listener", "[pop3]\nlisten = \"\"\n", "", func(c Config) bool { return c.POP3.Listen == "" && c.POP3.ListenTLS == ":995" }},
		{"unknown key", "hostname = \"mx.example.test\"\n\n[queue]\nretry_intervall = \"5m\"\n", `unknown key "queue.retry_intervall" at line 4`, nil},
		{"unknown section", "[smpt]\nlisten = \":25\"\n", `unknown key "smpt.listen" at line 2`, nil},
		{"syntax error", "[smtp\nlisten = 1\n", "line 2: expected", nil},
		{"bad duration", "[queue]\nretry_interval = \"soon\"\n", "bad duration", nil},
		{"bad size", "[smtp]\nmax_message_size = \"huge\"\n", "bad size", nil},
		{"bad listen", "[imap]\nlisten = \"143\"\n", "imap.listen", nil},
		{"too small message", "[smtp]\nmax_message_size = \"1KiB\"\n", "max_message_size", nil},
		{"postgres needs dsn", "[storage]\ndriver = \"postgres\"\n", "storage.dsn", nil},
		{"bad driver", "[storage]\ndriver = \"mysql\"\n", "storage.driver", nil},
		{"short idle", "[imap]\nidle_timeout = \"1m\"\n", "idle_timeout", nil},
		{"cert without key", "[tls]\ncert_file = \"/x.pem\"\n", "go together", nil},
		{"remote admin needs tls", "[admin]\nlisten = \":8080\"\n", "admin.tls", nil},
		{"remote admin with tls", "[admin]\nlisten = \"192.0.2.1:8443\"\ntls = true\n", "", func(c Config) bool { return c.Admin.TLS }},
		{"admin on localhost", "[admin]\nlisten = \"localhost:8080\"\n", "", func(c Config) bool { return c.Admin.Listen == "localhost:8080" }},
		{"acme", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_email = \"pm@example.test\"\nacme_names = [\"webmail.example.test\"]\n",
			"", func(c Config) bool {
				return c.TLS.ACME && c.TLS.ACMEDirectory == DefaultACMEDirectory && c.TLS.ACMENames[0] == "webmail.example.test" &&
					len(c.TLS.ACMEChallenges) == 2 && c.Web.ListenTLS == ":443"
			}},
		{"acme staging", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_directory = \"https://acme-staging-v02.api.letsencrypt.org/directory\"\n",
			"", func(c Config) bool { return c.TLS.ACME }},
		{"acme plain http directory", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_directory = \"http://ca.test/dir\"\n", "acme_directory", nil},
		{"acme without a public name", "hostname = \"localhost\"\n[tls]\nacme = true\n", "public host name", nil},
		{"acme wildcard", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_names = [\"*.example.test\"]\n", "wildcards", nil},
		{"acme http-01 without port 80", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_challenges = [\"http-01\"]\n[web]\nlisten = \"\"\n",
			"needs web.listen", nil},
		{"acme unknown challenge", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_challenges = [\"dns-01\"]\n", "dns-01", nil},
		{"acme bad email", "hostname = \"mx.example.test\"\n[tls]\nacme = true\nacme_email = \"postmaster\"\n", "acme_email", nil},
		{"bad web listen", "[web]\nlisten_tls = \"443\"\n", "web.listen_tls", nil},
		{"unset hostname", "hostname = \"\"\n", "hostname is not set", nil},
		{"localhost.localdomain", "hostname = \"localhost.localdomain\"\n", `hostname "localhost.localdomain" is not a fully qualified host name (like mail.example.org) (line 1)`, nil},
		{"bare hostname", "hostname = \"mail\"\n", "not a fully qualified", nil},
		{"hostname with a trailing dot", "hostname = \"mx.example.test.\"\n", "", func(c Config) bool { return c.Hostname == "mx.example.test." }},
		{"postmaster not an address", "[smtp]\npostmaster = \"not an address\"\n", `smtp.postmaster "not an address" is not an address (user@domain) (line 2)`, nil},
		{"postmaster", "[smtp]\npostmaster = \"pm@example.test\"\n", "", func(c Config) bool { return c.SMTP.Postmaster == "pm@example.test" }},
		{"insecure auth on a public address", "\n[imap]\nallow_insecure_auth = true\n", "imap.allow_insecure_auth: plaintext passwords on \":143\", which other hosts reach: allowed on loopback addresses only (line 3)", nil},
		{"insecure auth on loopback", "[submission]\nlisten = \"127.0.0.1:587\"\nallow_insecure_auth = true\n", "", func(c Config) bool { return c.Submission.AllowInsecureAuth }},
		{"two listeners on one address", "[pop3]\nlisten = \":143\"\n", `pop3.listen ":143": the same port on the same address as imap.listen (line 2)`, nil},
		{"a wildcard and a specific address", "[pop3]\nlisten = \"127.0.0.1:143\"\n", "the same port on the same address as imap.listen", nil},
		{"one port on two addresses", "[pop3]\nlisten = \"127.0.0.1:1143\"\n[imap]\nlisten = \"127.0.0.2:1143\"\n", "", func(c Config) bool { return c.IMAP.Listen == "127.0.0.2:1143" }},
	}
	for _, tt := range tests {
		c := Default()
		c.Hostname = "mx.example.test" // the machine's may be unset
		err := Decode([]byte(tt.text), &c)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%s: wrong result %+v", tt.name, c)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("missing file loaded")
	}
	p := filepath.Join(t.TempDir(), "k.toml")
	os.WriteFile(p, []byte("hostname = \"mx.example.test\"\n"), 0o600)
	c, err := Load(p)
	if err != nil || c.Hostname != "mx.example.test" || c.SMTP.Listen != ":25" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	if c, err := Load(""); c.DataDir != "/var/lib/kantorpos" || (err == nil) != IsFQDN(c.Hostname) {
		t.Fatalf("Load(\"\") = %q, %v", c.Hostname, err)
	}
}

func TestByteSizeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"50MiB", "64KiB", "1GiB", "12345"} {
		var s ByteSize
		if err := s.UnmarshalText([]byte(in)); err != nil {
			t.Fatal(err)
		}
		out, _ := s.MarshalText()
		if string(out) != in {
			t.Errorf("%s → %d → %s", in, s, out)
		}
	}
}

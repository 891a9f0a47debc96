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
	c := Default()
	if err := Decode([]byte(DefaultText), &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("default.toml and Default() differ:\n%+v\n%+v", c, Default())
	}
	def := Default()
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
	}
	for _, tt := range tests {
		c := Default()
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
	if c, err := Load(""); err != nil || c.DataDir != "/var/lib/kantorpos" {
		t.Fatalf("Load(\"\") = %v", err)
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

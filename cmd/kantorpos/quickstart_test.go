package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
)

func TestQuickstart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, data := filepath.Join(dir, "etc", "kantorpos.toml"), filepath.Join(dir, "data")
	code, out, errOut := runCmd(t, "a long admin password\n", "quickstart", "-config", cfg, "-data", data, "-password-stdin",
		"mail.example.org", "boss@example.org")
	if code != 0 {
		t.Fatalf("quickstart: %d %q %q", code, out, errOut)
	}
	for _, want := range []string{
		"wrote " + cfg,
		"domain example.org and administrator boss@example.org created",
		"example.org.\tIN\tMX\t10 mail.example.org.", // the MX names the host, never localhost.localdomain
		"_dmarc.example.org.",
		"._domainkey.example.org.",
		"kantorpos config check -config " + cfg,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	c, err := config.Load(cfg)
	if err != nil || c.Hostname != "mail.example.org" || c.DataDir != data || c.SMTP.Postmaster != "boss@example.org" {
		t.Fatalf("written configuration: %+v, %v", c, err)
	}
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v %v", fi, err)
	}
	if code, out, _ := runCmd(t, "", "user", "list", "-config", cfg); code != 0 || !strings.Contains(out, "boss@example.org") {
		t.Errorf("user list: %d %q", code, out)
	}
	// Once only: an existing configuration is never overwritten.
	if code, _, errOut := runCmd(t, "x\n", "quickstart", "-config", cfg, "-data", data, "mail.example.org", "boss@example.org"); code != 1 ||
		!strings.Contains(errOut, "exists") {
		t.Errorf("second quickstart: %d %q", code, errOut)
	}
	for _, bad := range [][]string{{"localhost", "a@example.org"}, {"mail.example.org", "not-an-address"}} {
		if code, _, _ := runCmd(t, "", append([]string{"quickstart", "-config", filepath.Join(dir, "other.toml")}, bad...)...); code != 2 {
			t.Errorf("quickstart %v: code %d, want 2", bad, code)
		}
	}
}

package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/mailio/dovecottest"
)

// The backup, restore, verify, import and export commands end to end.
func TestBackupAndMailCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, bdir, restored := filepath.Join(dir, "data"), filepath.Join(dir, "backup"), filepath.Join(dir, "restored")
	if err := os.Mkdir(data, 0o700); err != nil { // admin commands never create it
		t.Fatal(err)
	}
	mboxFile := filepath.Join(dir, "old.mbox")
	os.WriteFile(mboxFile, []byte("From a@x Thu Nov 26 10:00:00 2026\nStatus: RO\nSubject: one\n\nhello\n\n"+
		"From b@x Thu Nov 26 11:00:00 2026\nSubject: two\n\n>From quoted\n"), 0o600)
	cfgPG := filepath.Join(dir, "pg.toml")
	os.WriteFile(cfgPG, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+data+"\"\n[storage]\ndriver = \"postgres\"\ndsn = \"postgres://localhost/kantorpos\"\n"), 0o600)
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string // substring of stdout (code 0) or stderr
	}{
		{"", []string{"domain", "add", "example.test", "-data", data}, 0, "added"},
		{"secret password\n", []string{"user", "add", "bob@example.test", "-data", data, "-password-stdin"}, 0, "added"},
		{"secret password\n", []string{"user", "add", "amy@example.test", "-data", data, "-password-stdin"}, 0, "added"},
		{"", []string{"import", "mbox", "--account", "bob@example.test", "-data", data, "-folder", "Old", mboxFile}, 0,
			"2 messages (0.0 MiB) in 1 folders (1 created), 0 duplicates skipped, 0 errors"},
		{"", []string{"import", "mbox", "--account", "bob@example.test", "-data", data, "-folder", "Old", mboxFile}, 0, "2 duplicates skipped"},
		{"", []string{"import", "mbox", "-data", data, mboxFile}, 2, "missing --account"},
		{"", []string{"import", "mbox", "--account", "nobody@example.test", "-data", data, mboxFile}, 1, "no account nobody@example.test"},
		{"", []string{"export", "maildir", "--account", "bob@example.test", "-data", data, filepath.Join(dir, "md")}, 0, "2 messages"},
		{"", []string{"import", "maildir", "--account", "amy@example.test", "-data", data, filepath.Join(dir, "md")}, 0, "2 messages"},
		{"", []string{"export", "mbox", "--account", "amy@example.test", "-data", data, filepath.Join(dir, "mb")}, 0, "2 messages"},
		{"", []string{"verify", "-data", data}, 0, "ok: no problem found"},
		{"", []string{"backup", "-data", data, bdir}, 0, "2 referenced (0.0 MiB): 2 copied"},
		{"", []string{"backup", "-data", data, bdir}, 0, "0 copied (0.0 MiB), 2 already in the backup"},
		{"", []string{"backup", "list", bdir}, 0, "4 messages"},
		{"", []string{"backup", "verify", "-all", bdir}, 0, "0 problem(s)"},
		{"", []string{"backup", "-config", cfgPG, bdir}, 1, "pg_dump"},
		{"", []string{"restore", "-data", restored, bdir}, 0, "4 messages"},
		{"", []string{"restore", "-data", restored, bdir}, 1, "not empty"},
		{"", []string{"restore", "-data", restored, "-force", bdir}, 0, "was moved to"},
		{"", []string{"verify", "-data", restored}, 0, "ok: no problem found"},
		{"", []string{"user", "list", "-data", restored}, 0, "amy@example.test"},
	}
	for _, s := range steps {
		code, out, errOut := runCmd(t, s.stdin, s.args...)
		got := out
		if s.code != 0 {
			got = errOut
		}
		if code != s.code || !strings.Contains(got, s.out) {
			t.Fatalf("%v: code %d, stdout %q, stderr %q; want code %d and %q", s.args, code, out, errOut, s.code, s.out)
		}
	}
	// A damaged backup blob: backup verify fails.
	var blobFile string
	filepath.Walk(filepath.Join(bdir, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && len(fi.Name()) == 64 {
			blobFile = p
		}
		return nil
	})
	b, _ := os.ReadFile(blobFile)
	b[0] ^= 1
	os.WriteFile(blobFile, b, 0o600)
	if code, out, _ := runCmd(t, "", "backup", "verify", bdir); code != 1 || !strings.Contains(out, "damaged") {
		t.Fatalf("backup verify of a damaged blob: %d %q", code, out)
	}
}

// import imap against a real Dovecot, over implicit TLS.
func TestImportIMAPCommand(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	dv.Fill(t)
	data := t.TempDir()
	host, port, _ := net.SplitHostPort(dv.TLSAddr)
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"", []string{"domain", "add", "example.test", "-data", data}, 0, "added"},
		{"secret password\n", []string{"user", "add", "bob@example.test", "-data", data, "-password-stdin"}, 0, "added"},
		{"secret\n", []string{"import", "imap", "--host", host, "--port", port, "--user", "alice", "--password-stdin", "--tls",
			"--account", "bob@example.test", "-data", data}, 1, "certificate"},
		{"wrong\n", []string{"import", "imap", "--host", host, "--port", port, "--user", "alice", "--password-stdin", "--tls", "--insecure",
			"--account", "bob@example.test", "-data", data}, 1, "login as alice"},
		{"secret\n", []string{"import", "imap", "--host", host, "--port", port, "--user", "alice", "--password-stdin", "--tls", "--insecure",
			"--account", "bob@example.test", "-data", data}, 0, "14 messages"},
		{"secret\n", []string{"import", "imap", "--host", host, "--port", port, "--user", "alice", "--password-stdin", "--tls", "--insecure",
			"--account", "bob@example.test", "-data", data}, 0, "0 messages"},
		{"", []string{"verify", "-data", data}, 0, "ok: no problem found"},
	}
	for _, s := range steps {
		code, out, errOut := runCmd(t, s.stdin, s.args...)
		got := out
		if s.code != 0 {
			got = errOut
		}
		if code != s.code || !strings.Contains(got, s.out) {
			t.Fatalf("%v: code %d, stdout %q, stderr %q; want code %d and %q", s.args, code, out, errOut, s.code, s.out)
		}
	}
}

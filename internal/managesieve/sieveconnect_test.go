package managesieve_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// The "done means": a script uploaded with sieve-connect (STARTTLS,
// PLAIN) and activated files mail into a folder.
func TestSieveConnect(t *testing.T) {
	t.Parallel()
	bin := testenv.NeedCommand(t, "sieve-connect", "sieve-connect")
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) { c.ManageSieve.AllowInsecureAuth = false }})
	acc := e.AddUser(t, "sam@example.test", "sam password")
	host, port, _ := net.SplitHostPort(e.Addr["managesieve"])
	dir := t.TempDir()
	local := filepath.Join(dir, "rules.sieve")
	script := "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"invoice\" { fileinto :create \"Invoices\"; }\n"
	if err := os.WriteFile(local, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString("sam password\n")
		w.Close()
		defer r.Close()
		base := []string{"--server", host, "--port", port, "--user", "sam@example.test", "--passwordfd", "3",
			"--tlscafile", filepath.Join(e.DataDir, "tls", "selfsigned.crt"), "--tlshostname", "localhost",
			"--noclearauth", "--authmech", "PLAIN"}
		cmd := exec.Command(bin, append(base, args...)...)
		cmd.ExtraFiles = []*os.File{r}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("--upload", "--localsieve", local, "--remotesieve", "rules")
	run("--activate", "--remotesieve", "rules")
	if out := run("--list"); !strings.Contains(out, "rules") || !strings.Contains(out, "ACTIVE") && !strings.Contains(out, "<-") {
		t.Fatalf("--list: %q", out)
	}
	back := filepath.Join(dir, "back.sieve")
	run("--download", "--remotesieve", "rules", "--localsieve", back)
	if b, err := os.ReadFile(back); err != nil || strings.ReplaceAll(string(b), "\r\n", "\n") != script {
		t.Fatalf("downloaded %q, %v", b, err)
	}

	c, err := smtp.Dial(e.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: billing@shop.test\r\nSubject: Your invoice 42\r\n\r\nPay.\r\n"
	if err := c.SendMail("billing@shop.test", []string{"sam@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	mb, err := e.Store.Mailbox(t.Context(), acc.ID, "Invoices")
	if err != nil {
		t.Fatalf("Invoices: %v", err)
	}
	msgs, err := e.Store.FetchMessages(t.Context(), mb.ID, store.AllUIDs, store.FetchOptions{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Invoices holds %d, %v", len(msgs), err)
	}
}

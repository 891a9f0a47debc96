package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/mailauth"
)

// ServiceUser is the user the Debian package creates and the systemd unit
// runs the server as.
const ServiceUser = "kantorpos"

// cmdQuickstart sets up a new server in one step: a checked configuration,
// the data directory, the administrator's domain and account, and the DNS
// records to publish.
func cmdQuickstart(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "quickstart")
	path := fs.String("config", "", "configuration `file` to write (default: $KANTORPOS_CONFIG, else "+SystemConfig+")")
	data := fs.String("data", "/var/lib/kantorpos", "data `directory`")
	pwStdin := fs.Bool("password-stdin", false, "read the administrator's password from standard input (default: generate one and print it)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"want HOSTNAME ADMIN-ADDRESS"}
	}
	host, adminAddr := strings.ToLower(pos[0]), pos[1]
	if !config.IsFQDN(host) {
		return usageError{fmt.Sprintf("%q is not a fully qualified host name (like mail.example.org)", host)}
	}
	_, domain, ok := strings.Cut(adminAddr, "@")
	if !ok || domain == "" {
		return usageError{fmt.Sprintf("%q is not an address (like you@example.org)", adminAddr)}
	}
	cfgPath := *path
	if cfgPath == "" && e.getenv != nil {
		cfgPath = e.getenv("KANTORPOS_CONFIG")
	}
	if cfgPath == "" {
		cfgPath = SystemConfig
	}
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("%s exists: quickstart sets up a new server only (edit that file, or name another with -config)", cfgPath)
	}
	password := ""
	if *pwStdin {
		if password, err = readPassword(e, true); err != nil {
			return err
		}
	} else {
		password = rand.Text()[:20]
	}

	// The configuration: the commented default with this server's names.
	text := quickstartConfig(host, *data, adminAddr)
	c := config.Default()
	if err := config.Decode([]byte(text), &c); err != nil {
		return fmt.Errorf("the configuration made for %s does not check: %w", host, err)
	}
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, []byte(text), 0o640); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", cfgPath)

	// The data directory, owned by the service user when there is one and
	// we are root (admin commands then act as it: see becomeDataOwner).
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if owner, err := serviceAccount(); err == nil && os.Geteuid() == 0 {
		if err := os.Chown(c.DataDir, owner.uid, owner.gid); err != nil {
			return err
		}
		// The service user reads the configuration (0640, its group).
		if err := os.Chown(cfgPath, 0, owner.gid); err != nil {
			return err
		}
	}
	ops, closeFn, err := openOps(ctx, e, c)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := ops.AddDomain(ctx, domain); err != nil {
		return err
	}
	if _, err := ops.AddUser(ctx, adminAddr, password); err != nil {
		return err
	}
	if err := ops.SetAdmin(ctx, adminAddr, true); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "domain %s and administrator %s created (postmaster@%s goes to it)\n", domain, adminAddr, domain)
	if !*pwStdin {
		fmt.Fprintf(e.stdout, "administrator password (shown once): %s\n", password)
	}
	records, err := ops.DNSRecords(ctx, domain)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nPublish these DNS records at your DNS provider (zone-file syntax):\n\n%s\n", mailauth.Format(records))
	fmt.Fprintf(e.stdout, `Next steps:
  1. Publish the records above; ask your hosting provider to set the reverse DNS (PTR) of
     this server's public addresses to %[1]s.
  2. Open the ports: 25 (mail from other servers), 587 and 465 (sending), 993 and 143
     (IMAP), 995 and 110 (POP3), 80 and 443 (certificates and client set-up).
  3. Check: kantorpos config check -config %[2]s
  4. Start: systemctl enable --now kantorpos   (or: kantorpos serve -config %[2]s)
  5. Check the DNS once published: kantorpos dns check %[3]s -config %[2]s
  6. Sign in at the admin page (ssh -L 8080:127.0.0.1:8080 %[1]s, then http://127.0.0.1:8080/)
     as %[4]s; add users with: kantorpos user add NAME@%[3]s
`, host, cfgPath, domain, adminAddr)
	return nil
}

// quickstartConfig is the commented default configuration with the host
// name, data directory and postmaster set.
func quickstartConfig(host, dataDir, postmaster string) string {
	text := config.DefaultText
	for _, r := range []struct{ from, to string }{
		{`# hostname = "mail.example.com"`, fmt.Sprintf("hostname = %q", host)},
		{`data_dir = "/var/lib/kantorpos"`, fmt.Sprintf("data_dir = %q", dataDir)},
		{`postmaster = ""`, fmt.Sprintf("postmaster = %q", postmaster)},
	} {
		text = strings.Replace(text, r.from, r.to, 1)
	}
	return "# Written by kantorpos quickstart for " + host + ".\n" + text
}

type account struct{ uid, gid int }

// serviceAccount looks up the service user.
func serviceAccount() (account, error) {
	u, err := user.Lookup(ServiceUser)
	if err != nil {
		return account{}, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return account{}, err
	}
	return account{uid, gid}, nil
}

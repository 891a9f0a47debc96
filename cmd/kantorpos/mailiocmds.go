package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/mailio"
	"github.com/kantorpos/kantorpos/internal/mailio/imappull"
	"github.com/kantorpos/kantorpos/internal/mailio/mbox"
	"github.com/kantorpos/kantorpos/internal/server"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// openStore opens the store and blob store of a configuration (the
// server may be running: writes go through the store like APPEND).
func openStore(ctx context.Context, e *env, c config.Config) (*sqlstore.Store, *blob.FS, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := openDataDir(c); err != nil {
		return nil, nil, err
	}
	blobs, err := blob.NewFS(filepath.Join(c.DataDir, "blobs"), int64(c.Storage.MinFreeDisk))
	if err != nil {
		return nil, nil, err
	}
	st, err := server.OpenStore(ctx, c, blobs, nil, log)
	if err != nil {
		return nil, nil, err
	}
	return st, blobs, nil
}

// mailioCommand parses "FORMAT [flags] [PATH]" with --account and the
// data flags, and opens the account.
type mailioCommand struct {
	format  string
	account string
	d       dataFlags
	fs      *flag.FlagSet
}

func newMailioCommand(e *env, name string, args []string) (*mailioCommand, []string, error) {
	if len(args) == 0 {
		return nil, nil, usageError{"missing format"}
	}
	m := &mailioCommand{format: args[0], fs: newFlags(e, name+" "+args[0])}
	return m, args[1:], nil
}

func (m *mailioCommand) parse(args []string) ([]string, error) {
	m.d.register(m.fs)
	m.fs.StringVar(&m.account, "account", "", "the account `address`")
	pos, err := parseInterspersed(m.fs, args)
	if err != nil {
		return nil, err
	}
	if m.account == "" {
		return nil, usageError{"missing --account"}
	}
	return pos, nil
}

func (m *mailioCommand) open(ctx context.Context, e *env) (*sqlstore.Store, *blob.FS, store.Account, config.Config, error) {
	c, err := m.d.load(e)
	if err != nil {
		return nil, nil, store.Account{}, c, err
	}
	st, blobs, err := openStore(ctx, e, c)
	if err != nil {
		return nil, nil, store.Account{}, c, err
	}
	key := m.account
	if a, err := mailaddr.Parse(m.account); err == nil {
		key = a.Key()
	}
	acct, err := st.Account(ctx, key)
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotFound) {
			err = fmt.Errorf("no account %s (create it with kantorpos user add)", m.account)
		}
		return nil, nil, store.Account{}, c, err
	}
	return st, blobs, acct, c, nil
}

func printSummary(e *env, what string, s *mailio.Summary) {
	fmt.Fprintf(e.stdout, "%s: %s\n", what, s.String())
	for _, x := range s.ErrorSamples {
		fmt.Fprintf(e.stdout, "  error: %s\n", x)
	}
	if s.Errors > len(s.ErrorSamples) {
		fmt.Fprintf(e.stdout, "  ... and %d more errors\n", s.Errors-len(s.ErrorSamples))
	}
}

func cmdImport(ctx context.Context, e *env, args []string) error {
	m, args, err := newMailioCommand(e, "import", args)
	if err != nil {
		return err
	}
	switch m.format {
	case "maildir", "mbox":
		return importFiles(ctx, e, m, args)
	case "imap":
		return importIMAP(ctx, e, m, args)
	}
	return usageError{fmt.Sprintf("unknown format %q (maildir, mbox or imap)", m.format)}
}

func importFiles(ctx context.Context, e *env, m *mailioCommand, args []string) error {
	folder := m.fs.String("folder", "", "mbox: the folder to import a file into (default: named after the file); maildir: ignored")
	format := m.fs.String("mbox-format", "mboxrd", "mbox quoting: mboxrd or mboxo")
	pos, err := m.parse(args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "one path"); err != nil {
		return err
	}
	var f mbox.Format
	switch *format {
	case "mboxrd":
		f = mbox.MboxRD
	case "mboxo":
		f = mbox.MboxO
	default:
		return usageError{"-mbox-format is mboxrd or mboxo"}
	}
	st, blobs, acct, _, err := m.open(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	im := &mailio.Importer{Store: st, Blobs: blobs, Account: acct, Progress: newProgress(e)}
	if m.format == "maildir" {
		err = im.ImportMaildir(ctx, pos[0])
	} else {
		err = im.ImportMbox(ctx, pos[0], *folder, f)
	}
	printSummary(e, "imported into "+acct.Address, &im.Summary)
	if err == nil && im.Summary.Errors > 0 {
		err = fmt.Errorf("%d message(s) could not be imported", im.Summary.Errors)
	}
	return err
}

func cmdExport(ctx context.Context, e *env, args []string) error {
	m, args, err := newMailioCommand(e, "export", args)
	if err != nil {
		return err
	}
	if m.format != "maildir" && m.format != "mbox" {
		return usageError{fmt.Sprintf("unknown format %q (maildir or mbox)", m.format)}
	}
	pos, err := m.parse(args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "one directory"); err != nil {
		return err
	}
	st, _, acct, _, err := m.open(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	ex := &mailio.Exporter{Store: st, Account: acct, Progress: newProgress(e)}
	if m.format == "maildir" {
		err = ex.ExportMaildir(ctx, pos[0])
	} else {
		err = ex.ExportMbox(ctx, pos[0])
	}
	printSummary(e, "exported "+acct.Address+" to "+pos[0], &ex.Summary)
	if err == nil && ex.Summary.Errors > 0 {
		err = fmt.Errorf("%d message(s) could not be exported", ex.Summary.Errors)
	}
	return err
}

func importIMAP(ctx context.Context, e *env, m *mailioCommand, args []string) error {
	host := m.fs.String("host", "", "the IMAP server")
	port := m.fs.Int("port", 0, "its port (default 993 with --tls, else 143)")
	user := m.fs.String("user", "", "the login name there")
	pwStdin := m.fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	useTLS := m.fs.Bool("tls", false, "implicit TLS (port 993)")
	startTLS := m.fs.Bool("starttls", false, "STARTTLS")
	insecure := m.fs.Bool("insecure", false, "do not verify the server's certificate")
	pos, err := m.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *host == "" || *user == "" {
		return usageError{"want --host and --user (and --account)"}
	}
	security := "none"
	switch {
	case *useTLS && *startTLS:
		return usageError{"--tls or --starttls, not both"}
	case *useTLS:
		security = "tls"
	case *startTLS:
		security = "starttls"
	}
	if *port == 0 {
		*port = 143
		if *useTLS {
			*port = 993
		}
	}
	if security == "none" && !isLoopback(*host) {
		fmt.Fprintln(e.stderr, "kantorpos import imap: warning: no --tls or --starttls: the password crosses the network in clear text")
	}
	pw, err := readLoginPassword(e, *pwStdin)
	if err != nil {
		return err
	}
	st, blobs, acct, c, err := m.open(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	im := &mailio.Importer{Store: st, Blobs: blobs, Account: acct, Progress: newProgress(e)}
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	err = imappull.Pull(ctx, imappull.Options{Addr: addr, Security: security, User: *user, Password: pw,
		TLSConfig: &tls.Config{ServerName: *host, InsecureSkipVerify: *insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // the operator asked
		StateDir:  filepath.Join(c.DataDir, "import"), Importer: im})
	printSummary(e, "pulled "+*user+"@"+addr+" into "+acct.Address, &im.Summary)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(e.stdout, "interrupted: run the same command again to resume")
	}
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readLoginPassword reads a password from stdin, or prompts once.
func readLoginPassword(e *env, fromStdin bool) (string, error) {
	if fromStdin || !e.stdinIsTerminal {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("no password on standard input")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(e.stderr, "Password: ")
	p, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(e.stderr)
	return string(p), err
}

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/logfile"
	"github.com/kantorpos/kantorpos/internal/server"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Demo identity of `serve -dev`.
const (
	demoDomain  = "example.test"
	demoAccount = "demo@example.test"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve")
	path := fs.String("config", "", "configuration `file` (default: $KANTORPOS_CONFIG, else "+SystemConfig+" if present, else built-in defaults)")
	dev := fs.Bool("dev", false, "development mode: loopback, high ports, ./kantorpos-data, a demo account")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `file` until the server stops (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	var c config.Config
	var err error
	switch {
	case *dev && *path != "":
		return usageError{"-dev and -config do not go together"}
	case *dev:
		c = config.Dev()
	default:
		c, err = config.Load(e.configPath(*path))
		if err != nil {
			return err
		}
	}
	log := server.NewLogger(c.Log, e.stderr)
	// Started as root (not in -dev): bind the ports, then become the
	// service user before opening any data or reading a client's byte.
	var bound map[string]net.Listener
	if os.Geteuid() == 0 && !*dev {
		if bound, err = server.Bind(c); err != nil {
			return err
		}
		name, err := becomeServiceUser(c)
		if err != nil {
			closeAll(bound)
			return err
		}
		log.Info("listeners bound as root; running as the service user", "user", name, "uid", os.Getuid())
	} else if c.User != "" && !*dev {
		if cur, err := user.Current(); err == nil && cur.Username != c.User {
			log.Warn("user is set but serve was not started as root: running as this user", "user", cur.Username, "configured", c.User)
		}
	}
	// The log file is opened as the service user, who reopens it later.
	var logFile *logfile.File
	if c.Log.File != "" {
		if logFile, err = logfile.Open(c.Log.File); err != nil {
			closeAll(bound)
			return err
		}
		defer logFile.Close()
		log = server.NewLogger(c.Log, io.MultiWriter(e.stderr, logFile))
	}
	srv, err := server.New(ctx, server.Options{Config: c, Log: log, Bound: bound})
	if err != nil {
		closeAll(bound)
		return err
	}
	var demoPassword string
	if *dev {
		if demoPassword, err = ensureDemo(ctx, srv); err != nil {
			srv.Shutdown(context.Background())
			return err
		}
	}
	if *cpuprofile != "" {
		stopProfile, err := startCPUProfile(*cpuprofile)
		if err != nil {
			srv.Shutdown(context.Background())
			return err
		}
		defer stopProfile()
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	printListeners(e, srv, *dev, demoPassword)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr1 := make(chan os.Signal, 1)
	if logFile != nil {
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
	}
	for {
		select {
		case <-hup:
			if err := srv.ReloadCertificates(); err != nil {
				log.Error("reload certificates", "err", err)
			}
			continue
		case <-usr1:
			// logrotate moved the file away: go on in a new one.
			if err := logFile.Reopen(); err != nil {
				log.Error("reopen the log file", "err", err)
			} else {
				log.Info("log file reopened", "file", c.Log.File)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info("shutting down: no new connections, draining sessions (30s at most)")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func closeAll(ls map[string]net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// ensureDemo creates the demo domain and account of `serve -dev` once, and
// returns the demo password (kept in the data directory).
func ensureDemo(ctx context.Context, srv *server.Server) (string, error) {
	ops := srv.Ops
	if err := ops.AddDomain(ctx, demoDomain); err != nil && !errors.Is(err, store.ErrExists) {
		return "", err
	}
	pwFile := filepath.Join(srv.Config.DataDir, "demo-password")
	if b, err := os.ReadFile(pwFile); err == nil {
		if _, err := srv.Store.Account(ctx, demoAccount); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	pw := rand.Text()[:16]
	if _, err := srv.Store.Account(ctx, demoAccount); err == nil {
		if err := ops.SetPassword(ctx, demoAccount, pw); err != nil {
			return "", err
		}
	} else if _, err := ops.AddUser(ctx, demoAccount, pw); err != nil {
		return "", err
	}
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save demo password: %w", err)
	}
	// The demo account administers the development server (admin web page).
	if err := ops.SetAdmin(ctx, demoAccount, true); err != nil {
		return "", err
	}
	return pw, nil
}

var listenerLabels = map[string]string{
	"smtp":        "SMTP (MX, receives mail)",
	"submission":  "Submission (STARTTLS)",
	"submissions": "Submission (implicit TLS)",
	"imap":        "IMAP (STARTTLS)",
	"imaps":       "IMAP (implicit TLS)",
	"pop3":        "POP3 (STLS)",
	"pop3s":       "POP3 (implicit TLS)",
	"managesieve": "ManageSieve (STARTTLS)",
	"admin":       "Admin web and API",
	"http":        "Web (HTTP: ACME, autoconfig)",
	"https":       "Web (HTTPS: autoconfig)",
}

func printListeners(e *env, srv *server.Server, dev bool, demoPassword string) {
	addrs := srv.Addrs()
	names := make([]string, 0, len(addrs))
	for n := range addrs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return listenerOrder(names[i]) < listenerOrder(names[j]) })
	mode := ""
	if dev {
		mode = " as a development server (loopback only, plaintext logins allowed on loopback)"
	}
	fmt.Fprintf(e.stdout, "kantorpos %s is running%s.\n", buildVersion(), mode)
	for _, n := range names {
		label := listenerLabels[n]
		if label == "" {
			label = n
		}
		fmt.Fprintf(e.stdout, "  %-28s %s\n", label, addrs[n])
	}
	if len(names) == 0 {
		fmt.Fprintln(e.stdout, "  (no listeners configured)")
	}
	fmt.Fprintf(e.stdout, "Data directory: %s\n", srv.Config.DataDir)
	if dev {
		fmt.Fprintf(e.stdout, "Demo account: %s  password: %s\n", demoAccount, demoPassword)
		if a, ok := addrs["smtp"]; ok {
			fmt.Fprintf(e.stdout, "Try: swaks --server %s --to %s\n", a, demoAccount)
		}
		if a, ok := addrs["admin"]; ok {
			fmt.Fprintf(e.stdout, "Admin web page: http://%s/ (sign in as the demo account)\n", a)
		}
		fmt.Fprintln(e.stdout, "Stop with Ctrl-C.")
		return
	}
	fmt.Fprintln(e.stdout, "Stop with SIGTERM (systemctl stop, or Ctrl-C); SIGHUP reloads the certificates.")
}

func listenerOrder(n string) int {
	for i, x := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "managesieve", "admin", "http", "https"} {
		if x == n {
			return i
		}
	}
	return 100
}

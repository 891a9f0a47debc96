// Command kantorpos is a complete mail server in one binary: SMTP (MX and
// submission), the outbound queue, IMAP and POP3, with its administration.
//
// main is the table of subcommands; each lives in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version may be set at build time with -ldflags "-X main.version=...";
// otherwise buildVersion reads it from the build information.
var version = ""

// command is one subcommand. Commands with sub-verbs (domain add) are
// commands named "domain" whose run dispatches on the next argument.
type command struct {
	name    string
	usage   string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every command gets: where to print and read, so tests can
// run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stdinIsTerminal says whether a password may be prompted for.
	stdinIsTerminal bool
	// stdoutIsTerminal says whether long jobs may draw a progress bar.
	stdoutIsTerminal bool
	// getenv reads the environment (nil: an empty one); systemConfig is
	// the configuration file used when neither -config nor
	// KANTORPOS_CONFIG names one and it exists ("" for none).
	getenv       func(string) string
	systemConfig string
}

// SystemConfig is where the Debian package installs the configuration.
const SystemConfig = "/etc/kantorpos/kantorpos.toml"

// configPath is the configuration file of a command: the -config flag,
// else $KANTORPOS_CONFIG, else the system's file when it exists, else ""
// (built-in defaults).
func (e *env) configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if e.getenv != nil {
		if p := e.getenv("KANTORPOS_CONFIG"); p != "" {
			return p
		}
	}
	if e.systemConfig != "" {
		if _, err := os.Stat(e.systemConfig); err == nil {
			return e.systemConfig
		}
	}
	return ""
}

func commands() []command {
	return []command{
		{"serve", "serve [-config FILE] [-dev]", "run the mail server", cmdServe},
		{"quickstart", "quickstart [-config FILE] [-data DIR] HOSTNAME ADMIN-ADDRESS", "set up a new server: a checked configuration, the data directory, the administrator's domain and account, the DNS records to publish", cmdQuickstart},
		{"domain", "domain add|del|list [NAME]", "manage the domains we receive mail for", cmdDomain},
		{"user", "user add|del|passwd|list|quota|admin|disable|enable ADDR", "manage accounts (add -admin, -password-stdin; admin ADDRESS on|off; quota ADDRESS 2GiB)", cmdUser},
		{"token", "token add|del NAME | token list", "manage API tokens of the admin HTTP API (shown once when added)", cmdToken},
		{"alias", "alias add|del|list [ADDRESS] [TARGET]", "manage aliases (@domain is a catch-all)", cmdAlias},
		{"queue", "queue list|show ID|retry ID|all|delete ID|bounce ID", "inspect and act on the outbound queue", cmdQueue},
		{"dns", "dns [check] DOMAIN", "print the DNS records to publish for a domain, or check them", cmdDNS},
		{"dkim", "dkim list|rotate DOMAIN [-delay 48h]", "list or rotate a domain's DKIM keys", cmdDKIM},
		{"backup", "backup [-keep N] DIR | backup verify|list DIR", "online backup of the data directory (SQLite), or check one", cmdBackup},
		{"restore", "restore [-generation G] [-data NEWDIR] [-force] DIR", "rebuild a data directory from a backup", cmdRestore},
		{"import", "import maildir|mbox|imap --account ADDRESS [PATH]", "import mail into an account (Maildir++, mbox, a remote IMAP server)", cmdImport},
		{"export", "export maildir|mbox --account ADDRESS DIR", "export an account to Maildir++ or mbox", cmdExport},
		{"verify", "verify [-repair] [-quick]", "check the live data (blobs, reference counts, UIDs); -repair fixes what it can", cmdVerify},
		{"config", "config check|default [-config FILE]", "check a configuration, or print the commented default", cmdConfig},
		{"status", "status [-config FILE] [-cafile PEM]", "probe every listener's TLS (versions, ALPN, tickets, certificate); ACME state", cmdStatus},
		{"bench", "bench smtp|e2e|imap|pop3|idle-mem|fill [FLAGS]", "load a mail server on loopback and report throughput and latency", cmdBench},
		{"version", "version", "print the version", cmdVersion},
		{"help", "help [COMMAND]", "list the commands, or explain one", cmdHelp},
	}
}

// usageError is an error that should be followed by the command's usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stdinIsTerminal: isTerminal(os.Stdin),
		stdoutIsTerminal: isTerminal(os.Stdout), getenv: os.Getenv, systemConfig: SystemConfig}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		cmdHelp(ctx, e, nil)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		name = "help"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args[1:])
		if err == nil {
			return 0
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.stderr, "kantorpos %s: %s\nusage: kantorpos %s\n", c.name, ue.msg, c.usage)
			return 2
		}
		fmt.Fprintf(e.stderr, "kantorpos %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(e.stderr, "kantorpos: unknown command %q (try `kantorpos help`)\n", name)
	return 2
}

func cmdHelp(_ context.Context, e *env, args []string) error {
	cmds := commands()
	if len(args) == 1 {
		for _, c := range cmds {
			if c.name == args[0] {
				fmt.Fprintf(e.stdout, "usage: kantorpos %s\n\n%s.\n", c.usage, c.summary)
				return nil
			}
		}
		return usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	fmt.Fprintln(e.stdout, "kantorpos: a complete mail server in one binary.\n\nCommands:")
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(e.stdout, "  %-56s %s\n", c.usage, c.summary)
	}
	fmt.Fprintln(e.stdout, "\nQuick start: kantorpos serve -dev")
	return nil
}

func cmdVersion(_ context.Context, e *env, _ []string) error {
	fmt.Fprintf(e.stdout, "kantorpos %s\n", buildVersion())
	return nil
}

// newFlags makes a FlagSet that reports errors instead of exiting.
func newFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseInterspersed parses flags that may come after positional arguments
// (`user add bob@x -password-stdin`) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/bench"
)

// benchVerbs are the workloads of `kantorpos bench`.
var benchVerbs = []struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}{
	{"smtp", "messages accepted per second and latency to the final 250", benchSMTP},
	{"e2e", "SMTP 250 to the message seen by an IDLE-ing IMAP client", benchE2E},
	{"imap", "login, SELECT, FETCH, SEARCH and STORE over a large mailbox", benchIMAP},
	{"pop3", "full download of many maildrops by parallel clients", benchPOP3},
	{"idle-mem", "server memory per idle logged-in IMAP connection", benchIdleMem},
	{"fill", "put the messages of an mbox into mailboxes (SMTP or IMAP APPEND)", benchFill},
}

func cmdBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintln(e.stdout, "kantorpos bench: load any mail server on loopback; prints key=value lines (latencies in ms).\n\nWorkloads:")
		for _, v := range benchVerbs {
			fmt.Fprintf(e.stdout, "  %-10s %s\n", v.name, v.summary)
		}
		fmt.Fprintln(e.stdout, "\n`kantorpos bench WORKLOAD -h` lists its flags.")
		if len(args) == 0 {
			return usageError{"which workload?"}
		}
		return nil
	}
	for _, v := range benchVerbs {
		if v.name == args[0] {
			return v.run(ctx, e, args[1:])
		}
	}
	return usageError{fmt.Sprintf("unknown workload %q", args[0])}
}

// benchFlags are the flags every workload shares.
type benchFlags struct {
	fs       *flag.FlagSet
	login    *string
	password *string
	users    *int
	first    *int
	timeout  *time.Duration
}

func newBenchFlags(e *env, name string) *benchFlags {
	fs := newFlags(e, "bench "+name)
	return &benchFlags{
		fs:       fs,
		login:    fs.String("login", "bench%d@example.test", "login name (or address) `format` of user N"),
		password: fs.String("password", "secret", "password of every user"),
		users:    fs.Int("users", 50, "number of users"),
		first:    fs.Int("first-user", 1, "number of the first user"),
		timeout:  fs.Duration("timeout", time.Minute, "timeout of one reply"),
	}
}

func (b *benchFlags) parse(args []string) error {
	if err := b.fs.Parse(args); err != nil {
		return err
	}
	if b.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", b.fs.Arg(0))}
	}
	return nil
}

// printResult prints what a workload measured even when it also failed.
func printResult(e *env, r *bench.Result, err error) error {
	if r != nil {
		bench.Print(e.stdout, r)
	}
	return err
}

func benchSMTP(ctx context.Context, e *env, args []string) error {
	b := newBenchFlags(e, "smtp")
	addr := b.fs.String("addr", "127.0.0.1:25", "SMTP server `host:port` (loopback only)")
	sessions := b.fs.Int("sessions", 10, "parallel sessions")
	messages := b.fs.Int("messages", 1000, "messages in all")
	size := b.fs.Int("size", 5120, "message size in bytes")
	reuse := b.fs.Bool("keepalive", false, "send every message of a session over one connection (default: a new connection per message)")
	rcpt := b.fs.String("rcpt", "bench%d@example.test", "recipient address `format` of user N")
	if err := b.parse(args); err != nil {
		return err
	}
	r, err := bench.RunSMTP(ctx, bench.SMTPOptions{Addr: *addr, Sessions: *sessions, Messages: *messages,
		Size: *size, Reuse: *reuse, Users: *b.users, RcptFormat: *rcpt, Timeout: *b.timeout})
	return printResult(e, r, err)
}

func benchE2E(ctx context.Context, e *env, args []string) error {
	b := newBenchFlags(e, "e2e")
	smtp := b.fs.String("smtp", "127.0.0.1:25", "SMTP server `host:port`")
	imapAddr := b.fs.String("imap", "127.0.0.1:143", "IMAP server `host:port`")
	pairs := b.fs.Int("pairs", 1, "sender/IDLE-reader pairs, each on its own user")
	messages := b.fs.Int("messages", 100, "messages per pair")
	size := b.fs.Int("size", 5120, "message size in bytes")
	rcpt := b.fs.String("rcpt", "bench%d@example.test", "recipient address `format` of user N")
	if err := b.parse(args); err != nil {
		return err
	}
	r, err := bench.RunE2E(ctx, bench.E2EOptions{SMTPAddr: *smtp, IMAPAddr: *imapAddr, Pairs: *pairs,
		FirstUser: *b.first, Messages: *messages, Size: *size, RcptFormat: *rcpt, LoginFormat: *b.login,
		Password: *b.password, Timeout: *b.timeout})
	return printResult(e, r, err)
}

func benchIMAP(ctx context.Context, e *env, args []string) error {
	b := newBenchFlags(e, "imap")
	addr := b.fs.String("addr", "127.0.0.1:143", "IMAP server `host:port`")
	clients := b.fs.Int("clients", 1, "parallel clients (client i uses user first-user + i % users)")
	reps := b.fs.Int("reps", 1, "measured repetitions")
	warmup := b.fs.Int("warmup", 1, "repetitions run first and not counted")
	words := b.fs.String("word", "invoice", "word(s) for SEARCH TEXT, comma-separated: one measured operation each")
	bodies := b.fs.Int("bodies", 0, "messages whose full body is fetched (0: all)")
	storeRange := b.fs.Int("store-range", 1000, "messages per STORE")
	ops := b.fs.String("ops", strings.Join(bench.IMAPOps, ","), "operations to measure")
	mailbox := b.fs.String("mailbox", "INBOX", "mailbox to select")
	b.fs.Lookup("users").DefValue = "1"
	b.fs.Set("users", "1")
	b.fs.Lookup("timeout").DefValue = "5m0s"
	b.fs.Set("timeout", "5m")
	if err := b.parse(args); err != nil {
		return err
	}
	rs, err := bench.RunIMAP(ctx, bench.IMAPOptions{Addr: *addr, Clients: *clients, Users: *b.users,
		FirstUser: *b.first, LoginFormat: *b.login, Password: *b.password, Mailbox: *mailbox, Reps: *reps,
		Warmup: *warmup, Words: strings.Split(*words, ","), Bodies: *bodies, StoreRange: *storeRange, Ops: strings.Split(*ops, ","),
		Timeout: *b.timeout})
	bench.Print(e.stdout, rs...)
	return err
}

func benchPOP3(ctx context.Context, e *env, args []string) error {
	b := newBenchFlags(e, "pop3")
	addr := b.fs.String("addr", "127.0.0.1:110", "POP3 server `host:port`")
	parallel := b.fs.Int("parallel", 10, "parallel clients")
	rounds := b.fs.Int("rounds", 1, "times every maildrop is downloaded")
	if err := b.parse(args); err != nil {
		return err
	}
	r, err := bench.RunPOP3(ctx, bench.POP3Options{Addr: *addr, Parallel: *parallel, Users: *b.users,
		Rounds: *rounds, LoginFormat: *b.login, Password: *b.password, Timeout: *b.timeout})
	return printResult(e, r, err)
}

// intList is a repeatable or comma-separated integer flag.
type intList []int

func (l *intList) String() string { return fmt.Sprint([]int(*l)) }
func (l *intList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*l = append(*l, n)
	}
	return nil
}

// stringList is a repeatable or comma-separated string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, strings.Split(s, ",")...)
	return nil
}

func benchIdleMem(ctx context.Context, e *env, args []string) error {
	b := newBenchFlags(e, "idle-mem")
	addr := b.fs.String("addr", "127.0.0.1:143", "IMAP server `host:port`")
	var conns, pids intList
	var exes stringList
	b.fs.Var(&conns, "conns", "connections to hold; a comma-separated list measures each count in turn, keeping the earlier connections open (default 1000)")
	b.fs.Var(&pids, "pid", "`PID` of a server process to measure (repeatable)")
	b.fs.Var(&exes, "exe", "measure every process whose executable path starts with `PREFIX` (repeatable)")
	sources := b.fs.Int("sources", 0, "dial from 127.0.0.1..127.0.0.N (more local ports)")
	concurrency := b.fs.Int("concurrency", 16, "logins in flight")
	warmup := b.fs.Int("warmup", 64, "logins (connections opened and closed) before the baseline")
	settle := b.fs.Duration("settle", 10*time.Second, "wait before each measurement")
	noSelect := b.fs.Bool("no-select", false, "only log in (default: SELECT INBOX and IDLE)")
	if err := b.parse(args); err != nil {
		return err
	}
	if len(conns) == 0 {
		conns = intList{1000}
	}
	rs, err := bench.RunIdleMem(ctx, bench.IdleMemOptions{Addr: *addr, Steps: conns, Users: *b.users,
		FirstUser: *b.first, LoginFormat: *b.login, Password: *b.password,
		Target:  bench.MemTarget{PIDs: pids, ExePrefixes: exes},
		Sources: *sources, Concurrency: *concurrency, Warmup: *warmup, Settle: *settle, NoSelect: *noSelect,
		Timeout:  *b.timeout,
		Progress: func(s string) { fmt.Fprintln(e.stderr, s) }})
	bench.Print(e.stdout, rs...)
	return err
}

func benchFill(ctx context.Context, e *env, args []string) error {
	b := newBenchFlags(e, "fill")
	via := b.fs.String("via", "smtp", "smtp (each server's delivery) or imap (APPEND)")
	addr := b.fs.String("addr", "127.0.0.1:25", "server `host:port`")
	mbox := b.fs.String("mbox", "", "mbox `file` (bench/gen-mbox.py makes one)")
	count := b.fs.Int("count", 0, "messages per user (default: every message of the mbox; the mbox repeats)")
	parallel := b.fs.Int("parallel", 8, "parallel SMTP sessions, or users APPENDed to at once")
	rcpt := b.fs.String("rcpt", "bench%d@example.test", "recipient address `format` of user N")
	b.fs.Lookup("users").DefValue = "1"
	b.fs.Set("users", "1")
	if err := b.parse(args); err != nil {
		return err
	}
	if *mbox == "" {
		return usageError{"-mbox is required"}
	}
	msgs, err := bench.ReadMbox(*mbox)
	if err != nil {
		return err
	}
	r, err := bench.Fill(ctx, bench.FillOptions{Via: *via, Addr: *addr, Messages: msgs, Count: *count,
		Users: *b.users, FirstUser: *b.first, RcptFormat: *rcpt, LoginFormat: *b.login, Password: *b.password,
		Parallel: *parallel, Timeout: *b.timeout})
	return printResult(e, r, err)
}

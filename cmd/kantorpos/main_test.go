package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// runCmd runs one command line in-process.
func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func TestHelpVersionConfig(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, "", "help")
	for _, c := range commands() {
		if code != 0 || !strings.Contains(out, c.usage) {
			t.Errorf("help does not list %q (code %d)", c.name, code)
		}
	}
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "kantorpos ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	code, out, _ = runCmd(t, "", "config", "default")
	c := config.Default()
	c.Hostname = "mx.example.test" // the machine's name may not be fully qualified
	if code != 0 || config.Decode([]byte(out), &c) != nil {
		t.Errorf("config default does not decode: %d", code)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("hostname = \"mx.example.test\"\n"), 0o600)
	os.WriteFile(bad, []byte("hostname = \"mx.example.test\"\n[queue]\nretry_intervall = \"5m\"\n"), 0o600)
	if code, out, _ := runCmd(t, "", "config", "check", "-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("config check good: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "", "config", "check", "-config", bad); code != 1 ||
		!strings.Contains(errOut, `unknown key "queue.retry_intervall" at line 3`) {
		t.Errorf("config check bad: %d %q", code, errOut)
	}
}

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string // substring of stdout (code 0) or stderr
	}{
		{"", []string{"domain", "add", "example.test", "-data", data}, 0, "domain example.test added"},
		{"", []string{"domain", "add", "example.test", "-data", data}, 1, "already exists"},
		{"secret password\n", []string{"user", "add", "bob@example.test", "-data", data, "-password-stdin"}, 0, "added"},
		{"secret password\n", []string{"user", "add", "bob@example.test", "-data", data, "-password-stdin"}, 1, "already exists"},
		{"short\n", []string{"user", "add", "amy@example.test", "-data", data, "-password-stdin"}, 1, "too weak"},
		{"\n", []string{"user", "add", "amy@example.test", "-data", data, "-password-stdin"}, 1, "too weak: empty"},
		{"secret password\n", []string{"user", "add", "x@unknown.test", "-data", data, "-password-stdin"}, 1, "unknown domain unknown.test"},
		{"", []string{"user", "list", "-data", data}, 0, "bob@example.test"},
		{"new secret pw\n", []string{"user", "passwd", "bob@example.test", "-data", data, "-password-stdin"}, 0, "changed"},
		{"boss password\n", []string{"user", "add", "boss@example.test", "-admin", "-data", data, "-password-stdin"}, 0, "(administrator)"},
		{"", []string{"user", "list", "-data", data}, 0, "active,admin"},
		{"", []string{"user", "admin", "boss@example.test", "off", "-data", data}, 0, "off"},
		{"", []string{"user", "admin", "boss@example.test", "maybe", "-data", data}, 2, "on|off"},
		{"", []string{"user", "quota", "bob@example.test", "2MiB", "-data", data}, 0, "quota of bob@example.test"},
		{"", []string{"user", "quota", "bob@example.test", "lots", "-data", data}, 2, "quota"},
		{"", []string{"user", "disable", "bob@example.test", "-data", data}, 0, "disabled"},
		{"", []string{"user", "list", "-data", data}, 0, "2097152"},
		{"", []string{"user", "enable", "bob@example.test", "-data", data}, 0, "enabled"},
		{"", []string{"user", "disable", "nobody@example.test", "-data", data}, 1, "unknown account"},
		{"", []string{"token", "add", "monitoring", "-data", data}, 0, "kpt_"},
		{"", []string{"token", "add", "monitoring", "-data", data}, 1, "already exists"},
		{"", []string{"token", "list", "-data", data}, 0, "monitoring"},
		{"", []string{"token", "del", "monitoring", "-data", data}, 0, "deleted"},
		{"", []string{"token", "del", "monitoring", "-data", data}, 1, "no token"},
		{"", []string{"user", "del", "boss@example.test", "-data", data}, 0, "deleted"},
		{"", []string{"alias", "add", "sales@example.test", "bob@example.test", "-data", data}, 0, "added"},
		{"", []string{"alias", "add", "@example.test", "bob@example.test", "-data", data}, 0, "added"},
		{"", []string{"alias", "list", "-data", data}, 0, "sales@example.test → bob@example.test"},
		{"", []string{"alias", "del", "sales@example.test", "-data", data}, 0, "deleted"},
		{"", []string{"domain", "del", "example.test", "-data", data}, 1, "still has accounts"},
		{"", []string{"user", "del", "bob@example.test", "-data", data}, 0, "deleted"},
		{"", []string{"user", "frob", "-data", data}, 2, "unknown verb"},
		{"", []string{"domain", "list", "-data", data}, 0, "example.test"},
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

// The real binary: serve with a configuration, change accounts while it
// runs, stop it with SIGTERM.
func TestServeBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kantorpos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "k.toml")
	userLine := ""
	if os.Geteuid() == 0 {
		// Started as root, serve binds its ports and becomes this user;
		// it creates the data directory as that user's, under dir.
		userLine = `user = "nobody"`
		for _, d := range []string{filepath.Dir(dir), dir} {
			os.Chmod(d, 0o711)
		}
	}
	// The log file's directory belongs to the service user, as the
	// Debian package makes /var/log/kantorpos.
	logDir := filepath.Join(dir, "log")
	os.Mkdir(logDir, 0o777)
	os.Chmod(logDir, 0o777)
	logPath := filepath.Join(logDir, "kantorpos.log")
	os.WriteFile(cfg, []byte(`hostname = "mx.example.test"
data_dir = "`+filepath.Join(dir, "data")+`"
`+userLine+`
[log]
file = "`+logPath+`"
[smtp]
listen = "127.0.0.1:0"
[submission]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
[imap]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
[pop3]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
[managesieve]
listen = ""
[admin]
listen = "127.0.0.1:0"
[web]
listen = "127.0.0.1:0"
listen_tls = "127.0.0.1:0"
`), 0o600)
	cmd := exec.Command(bin, "serve", "-config", cfg)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	running := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Stop with") {
				running <- all.String()
			}
		}
	}()
	select {
	case banner := <-running:
		if !strings.Contains(banner, "is running") {
			t.Fatalf("banner: %s", banner)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start; stderr:\n%s", stderr.String())
	}
	for _, args := range [][]string{
		{"domain", "add", "example.test", "-config", cfg},
		{"user", "add", "bob@example.test", "-password-stdin", "-config", cfg},
		{"user", "list", "-config", cfg},
	} {
		c := exec.Command(bin, args...)
		c.Stdin = strings.NewReader("bob's password\n")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%v while serving: %v\n%s", args, err, out)
		}
		if args[1] == "list" && !strings.Contains(string(out), "bob@example.test") {
			t.Fatalf("user list: %s", out)
		}
	}
	// The log file has the log (0600); after logrotate's move and
	// SIGUSR1 the server writes to a new file at the same path.
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "level=") {
		t.Fatalf("log file: %q", b)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	testutil.WaitFor(t, 20*time.Second, "the reopened log file", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "log file reopened")
	})
	if b, _ := os.ReadFile(logPath + ".1"); strings.Contains(string(b), "log file reopened") {
		t.Errorf("the moved file got the line after the reopen:\n%s", b)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("no exit 40s after SIGTERM")
	}
}

func TestQueueCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	// The bounce's DSN names this host: the configuration says which.
	cfg := filepath.Join(t.TempDir(), "kantorpos.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+data+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"domain", "add", "example.test", "-data", data},
		{"user", "add", "amy@example.test", "-data", data, "-password-stdin"},
	} {
		if code, _, errOut := runCmd(t, "a long password\n", args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	if code, out, _ := runCmd(t, "", "queue", "list", "-data", data); code != 0 || !strings.Contains(out, "empty") {
		t.Fatalf("empty queue: %d %q", code, out)
	}
	id := queueOne(t, data, "amy@example.test", "x@remote.test")
	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"queue", "list", "-data", data}, 0, "amy@example.test"},
		{[]string{"queue", "show", id, "-data", data}, 0, "x@remote.test"},
		{[]string{"queue", "retry", "all", "-data", data}, 0, "1 entries"},
		{[]string{"queue", "retry", "999", "-data", data}, 1, "no queue entry 999"},
		{[]string{"queue", "show", "x", "-data", data}, 2, "bad queue id"},
		{[]string{"queue", "bounce", id, "-config", cfg}, 0, "returned to its sender"},
		{[]string{"queue", "list", "-data", data}, 0, "empty"},
	}
	for _, s := range steps {
		code, out, errOut := runCmd(t, "", s.args...)
		got := out
		if s.code != 0 {
			got = errOut
		}
		if code != s.code || !strings.Contains(got, s.out) {
			t.Fatalf("%v: code %d out %q err %q", s.args, code, out, errOut)
		}
	}
	// The bounce is in amy's INBOX.
	ctx := context.Background()
	st, closeFn := openData(t, data)
	defer closeFn()
	acc, _ := st.Account(ctx, "amy@example.test")
	inbox, _ := st.Mailbox(ctx, acc.ID, "INBOX")
	msgs, _ := st.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	if len(msgs) != 1 || !strings.Contains(msgs[0].Meta.Subject, "Undelivered") && !strings.Contains(msgs[0].Meta.Subject, "failure") {
		t.Fatalf("bounce in INBOX: %+v", msgs)
	}
}

func openData(t *testing.T, data string) (*sqlstore.Store, func()) {
	t.Helper()
	blobs, err := blob.NewFS(filepath.Join(data, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(data, "kantorpos.db"), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	return st, func() { st.Close() }
}

// queueOne queues a message from an account to a remote recipient.
func queueOne(t *testing.T, data, from, to string) string {
	t.Helper()
	ctx := context.Background()
	st, closeFn := openData(t, data)
	defer closeFn()
	blobs, _ := blob.NewFS(filepath.Join(data, "blobs"), 0)
	w, _ := blobs.Create(ctx)
	w.Write([]byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: queued\r\n\r\nbody\r\n"))
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Deliver(ctx, &store.Delivery{Blob: ref, Remote: &store.Outbound{From: from, Rcpts: []store.OutRcpt{{Addr: to}}}})
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(res.QueueIDs[0], 10)
}

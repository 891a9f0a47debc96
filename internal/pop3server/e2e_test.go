package pop3server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

// End-to-end tests with the clients people use: Python poplib, fetchmail,
// getmail6 and curl, against two listeners (STLS and implicit TLS) sharing
// one store.

// e2eMessage is the i-th test message: a line starting with "." checks
// byte-stuffing end to end.
func e2eMessage(i int) string {
	return fmt.Sprintf("From: sender@example.org\r\nTo: alice@example.test\r\nSubject: msg %d\r\nMessage-ID: <m%d@example.org>\r\n\r\nhello %d\r\n.dot line %d\r\n..two dots\r\nend\r\n", i, i, i, i)
}

// e2eServers starts the STLS and implicit-TLS servers over b and returns
// their addresses.
// e2eEnv is a store with servers on it, and the test's way to put mail in
// and look at what is left.
type e2eEnv struct {
	stlsAddr, tlsAddr string
	certFile          string
	deliver           func(t *testing.T, user, msg string)
	count             func(t *testing.T, user string) int // messages in INBOX
	seen              func(t *testing.T, user string) int // of which \Seen
}

func TestE2EPoplib(t *testing.T)    { t.Parallel(); testPoplib(t, newE2E(t)) }
func TestE2EFetchmail(t *testing.T) { t.Parallel(); testFetchmail(t, newE2E(t)) }
func TestE2EGetmail(t *testing.T)   { t.Parallel(); testGetmail(t, newE2E(t)) }
func TestE2ECurl(t *testing.T)      { t.Parallel(); testCurl(t, newE2E(t)) }

func e2eServers(t *testing.T, b Backend, a Authenticator) (stlsAddr, tlsAddr string, certFile string) {
	t.Helper()
	tlsConf, certPEM := testTLS(t)
	certFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var addrs [2]string
	for i, implicit := range []bool{false, true} {
		srv := &Server{Backend: b, Auth: a, TLSConfig: tlsConf, Config: Config{ImplicitTLS: implicit}, Log: testLogger(t)}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		go srv.Serve(l)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		})
	}
	return addrs[0], addrs[1], certFile
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const poplibScript = `
import json, poplib, ssl, sys
host, port, tlsport, cafile, user, pw = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
p = poplib.POP3(host, int(port), timeout=30)
out["capa_before"] = sorted(p.capa())
p.stls(ctx)
out["capa_after"] = sorted(p.capa())
p.user(user); p.pass_(pw)
out["stat"] = list(p.stat())
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["retr"] = [b"\r\n".join(p.retr(i)[1]).decode() for i in range(1, out["stat"][0] + 1)]
out["top"] = [l.decode() for l in p.top(1, 1)[1]]
p.quit()
s = poplib.POP3_SSL(host, int(tlsport), context=ctx, timeout=30)
s.user(user); s.pass_(pw)
s.dele(1)
s.quit()
print(json.dumps(out))
`

func testPoplib(t *testing.T, env *e2eEnv) {
	python := testutil.NeedCommand(t, "python3", "python3")
	for i := 1; i <= 3; i++ {
		env.deliver(t, "alice@example.test", e2eMessage(i))
	}
	script := filepath.Join(t.TempDir(), "poplib_test.py")
	if err := os.WriteFile(script, []byte(poplibScript), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port := splitAddr(t, env.stlsAddr)
	_, tlsPort := splitAddr(t, env.tlsAddr)
	out, err := run(t, nil, python, script, host, port, tlsPort, env.certFile, "alice@example.test", testUsers["alice@example.test"])
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	var got struct {
		CapaBefore, CapaAfter []string `json:"-"`
		Stat                  []int
		UIDL                  []string
		Retr                  []string
		Top                   []string
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("poplib output %q: %v", out, err)
	}
	json.Unmarshal([]byte(out), &got)
	json.Unmarshal(raw["capa_before"], &got.CapaBefore)
	json.Unmarshal(raw["capa_after"], &got.CapaAfter)
	if !strings.Contains(strings.Join(got.CapaBefore, " "), "STLS") || strings.Contains(strings.Join(got.CapaAfter, " "), "STLS") {
		t.Errorf("CAPA before/after STLS: %q / %q", got.CapaBefore, got.CapaAfter)
	}
	if len(got.Stat) != 2 || got.Stat[0] != 3 {
		t.Errorf("STAT = %v", got.Stat)
	}
	if len(got.UIDL) != 3 {
		t.Errorf("UIDL = %q", got.UIDL)
	}
	for i, body := range got.Retr {
		if want := strings.TrimSuffix(e2eMessage(i+1), "\r\n"); body != want {
			t.Errorf("RETR %d = %q, want %q", i+1, body, want)
		}
	}
	if n := len(got.Top); n != 6 || got.Top[5] != "hello 1" {
		t.Errorf("TOP 1 1 = %q", got.Top)
	}
	if n := env.count(t, "alice@example.test"); n != 2 {
		t.Errorf("after DELE 1 + QUIT over 995: %d messages left, want 2", n)
	}
}

// fetchmailRC writes a fetchmail run control file for alice.
func fetchmailRC(t *testing.T, env *e2eEnv, dir, mbox string, keep bool) string {
	host, port := splitAddr(t, env.stlsAddr)
	keepOpt := "no keep fetchall"
	if keep {
		keepOpt = "keep"
	}
	rc := fmt.Sprintf(`set no syslog
set no bouncemail
poll %s service %s protocol pop3 uidl
  user "alice@example.test" there with password "%s" is "%s" here
  sslproto "tls1.2+" sslcertck sslcertfile "%s" sslcommonname "localhost"
  %s
  mda "cat >> %s"
`, host, port, testUsers["alice@example.test"], os.Getenv("USER"), env.certFile, keepOpt, mbox)
	path := filepath.Join(dir, "fetchmailrc")
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func countSubjects(t *testing.T, mbox string) int {
	t.Helper()
	b, err := os.ReadFile(mbox)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Subject: msg ")
}

// testFetchmail: with "keep" the mail stays on the server and a second run
// fetches nothing new (UIDL); without it, fetchmail downloads and the
// server deletes.
func testFetchmail(t *testing.T, env *e2eEnv) {
	fetchmail := testutil.NeedCommand(t, "fetchmail", "fetchmail")
	for i := 1; i <= 4; i++ {
		env.deliver(t, "alice@example.test", e2eMessage(i))
	}
	dir := t.TempDir()
	mbox := filepath.Join(dir, "mbox")
	fm := func(keep bool) (string, int) {
		rc := fetchmailRC(t, env, dir, mbox, keep)
		out, err := run(t, []string{"HOME=" + dir, "FETCHMAILHOME=" + dir}, fetchmail, "-f", rc, "--nodetach", "-v")
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("fetchmail: %v\n%s", err, out)
		}
		return out, code
	}
	out, code := fm(true)
	if code != 0 || countSubjects(t, mbox) != 4 {
		t.Fatalf("fetchmail keep: exit %d, %d messages in mbox\n%s", code, countSubjects(t, mbox), out)
	}
	if !strings.Contains(out, "STLS") {
		t.Errorf("fetchmail did not use STLS:\n%s", out)
	}
	if n := env.count(t, "alice@example.test"); n != 4 {
		t.Fatalf("keep: %d messages left on the server, want 4", n)
	}
	// In keep mode fetchmail downloads with "TOP n 99999999" so as not to
	// change flags; TOP never sets \Seen.
	if !strings.Contains(out, "POP3> TOP 1 99999999") {
		t.Errorf("fetchmail keep did not use TOP:\n%s", out)
	}
	if n := env.seen(t, "alice@example.test"); n != 0 {
		t.Errorf("keep: %d messages \\Seen, want 0", n)
	}
	// Again with keep: UIDLs are stable, so only the new message is fetched.
	env.deliver(t, "alice@example.test", e2eMessage(5))
	out, code = fm(true)
	if code != 0 || countSubjects(t, mbox) != 5 {
		t.Fatalf("fetchmail keep again: exit %d, %d messages in mbox, want 5\n%s", code, countSubjects(t, mbox), out)
	}
	// Delete mode: everything is fetched (fetchall) and removed.
	out, code = fm(false)
	if code != 0 || countSubjects(t, mbox) != 10 {
		t.Fatalf("fetchmail delete: exit %d, %d messages in mbox, want 10\n%s", code, countSubjects(t, mbox), out)
	}
	if n := env.count(t, "alice@example.test"); n != 0 {
		t.Fatalf("delete mode: %d messages left on the server", n)
	}
	if got := string(must(os.ReadFile(mbox))); !strings.Contains(got, "\n.dot line 2") || strings.Contains(got, "\n..dot line") {
		t.Error("fetchmail got a stuffed or lost dot line")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func testGetmail(t *testing.T, env *e2eEnv) {
	getmail := testutil.NeedCommand(t, "getmail", "getmail6")
	for i := 1; i <= 3; i++ {
		env.deliver(t, "alice@example.test", e2eMessage(i))
	}
	dir := t.TempDir()
	mbox := filepath.Join(dir, "mbox")
	if err := os.WriteFile(mbox, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port := splitAddr(t, env.tlsAddr)
	rc := fmt.Sprintf(`[retriever]
type = SimplePOP3SSLRetriever
server = %s
port = %s
username = alice@example.test
password = %s
ca_certs = %s

[destination]
type = MDA_external
path = /bin/sh
arguments = ("-c", "cat >> %s")
allow_root_commands = true

[options]
delete = true
read_all = true
verbose = 2
`, host, port, testUsers["alice@example.test"], env.certFile, mbox)
	rcPath := filepath.Join(dir, "getmailrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, getmail, "--rcfile="+rcPath, "--getmaildir="+dir)
	if err != nil {
		t.Fatalf("getmail: %v\n%s", err, out)
	}
	if n := countSubjects(t, mbox); n != 3 {
		t.Fatalf("getmail: %d messages in mbox, want 3\n%s", n, out)
	}
	if got := string(must(os.ReadFile(mbox))); !strings.Contains(got, "\n.dot line 2") || strings.Contains(got, "\n..dot line") {
		t.Errorf("getmail mbox lacks the unstuffed dot line")
	}
	if n := env.count(t, "alice@example.test"); n != 0 {
		t.Fatalf("getmail delete: %d messages left on the server", n)
	}
}

func testCurl(t *testing.T, env *e2eEnv) {
	curl := testutil.NeedCommand(t, "curl", "curl")
	for i := 1; i <= 2; i++ {
		env.deliver(t, "alice@example.test", e2eMessage(i))
	}
	cred := "alice@example.test:" + testUsers["alice@example.test"]
	c := func(args ...string) string {
		t.Helper()
		out, err := run(t, nil, curl, append([]string{"-sS", "--max-time", "30", "--cacert", env.certFile, "-u", cred}, args...)...)
		if err != nil {
			t.Fatalf("curl %q: %v\n%s", args, err, out)
		}
		return out
	}
	// pop3s:// (implicit TLS): LIST, then RETR 2.
	if out := c("pop3s://" + env.tlsAddr + "/"); out != "1 "+itoa(len(e2eMessage(1)))+"\r\n2 "+itoa(len(e2eMessage(2)))+"\r\n" {
		t.Errorf("curl LIST = %q", out)
	}
	if out := c("pop3s://" + env.tlsAddr + "/2"); out != e2eMessage(2) {
		t.Errorf("curl RETR 2 = %q, want %q", out, e2eMessage(2))
	}
	// pop3:// with STLS required, a custom command, and AUTH PLAIN.
	if out := c("--ssl-reqd", "--login-options", "AUTH=PLAIN", "-X", "UIDL", "pop3://"+env.stlsAddr+"/"); strings.Count(out, "\r\n") != 2 {
		t.Errorf("curl UIDL = %q", out)
	}
	c("--ssl-reqd", "-X", "DELE", "-I", "pop3://"+env.stlsAddr+"/1")
	if n := env.count(t, "alice@example.test"); n != 1 {
		t.Errorf("after curl DELE: %d messages, want 1", n)
	}
	// Without TLS, curl is refused the password.
	out, err := run(t, nil, curl, "-sS", "--max-time", "30", "-u", cred, "pop3://"+env.stlsAddr+"/")
	if err == nil {
		t.Errorf("curl over plaintext logged in: %q", out)
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

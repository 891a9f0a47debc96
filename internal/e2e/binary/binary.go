// Package binary runs the real kantorpos binary for black-box tests: it
// builds cmd/kantorpos once per test binary, writes a configuration with
// loopback ports, starts `kantorpos serve`, and can SIGKILL and restart it
// on the same data directory and ports. Admin commands run the same binary.
package binary

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Build returns the path of a kantorpos binary built from this module
// (once per test process). KANTORPOS_BIN names a prebuilt one instead.
func Build(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KANTORPOS_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		touchSources(root)
		removeOldBuilds()
		dir, err := os.MkdirTemp("", "kantorpos-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "kantorpos")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/kantorpos")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// removeOldBuilds deletes binaries that earlier test processes built (a
// process cannot remove its own at exit; an hour is longer than any run).
func removeOldBuilds() {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "kantorpos-bin-*"))
	for _, d := range old {
		if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(d)
		}
	}
}

// touchSources stats every Go source file of the module, so that go test's
// result cache (which records the files a test reads) does not reuse a
// result after the server code changed: the build runs in a subprocess
// that the cache does not see.
func touchSources(root string) {
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			os.Stat(p)
		}
		return nil
	})
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Listeners are the names a Server binds (the admin API is off).
var Listeners = []string{"smtp", "submission", "imap", "pop3"}

// Options configure a Server.
type Options struct {
	// DataDir is the data directory; "" makes one in t.TempDir().
	DataDir string
	// Hostname defaults to mx.crash.test.
	Hostname string
	// Extra is TOML appended to the generated configuration (sections
	// other than the ones generated, or keys of a section it opens).
	Extra string
	// Storage is the body of the [storage] section (default: min_free_disk = 0).
	Storage string
	// Queue is the body of the [queue] section; SMTP and IMAP are keys
	// added to those sections.
	Queue, SMTP, IMAP string
	// LogLevel of the server (default info).
	LogLevel string
}

// Server is one kantorpos process (restartable).
type Server struct {
	t       testing.TB
	Bin     string
	Config  string
	DataDir string
	// Addr maps listener names to 127.0.0.1:port (stable across restarts).
	Addr map[string]string
	// LogPath is the file that collects every run's stderr.
	LogPath string
	// Credential, when set, runs `serve` as that user (the test runs as
	// root): a server that is not root, as a service user's would be.
	Credential *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// New writes a configuration and returns a server that is not started.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, Bin: Build(t), DataDir: o.DataDir, Addr: map[string]string{}}
	if s.DataDir == "" {
		s.DataDir = filepath.Join(t.TempDir(), "data")
	}
	// As an installer would (admin commands never create it).
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	userLine := ""
	if os.Geteuid() == 0 {
		// As in production, serve started as root binds its ports and
		// becomes an unprivileged user, here "nobody": the data directory
		// is that user's, and the way to it passable.
		userLine = `user = "nobody"`
		giveToNobody(t, s.DataDir)
	}
	if o.Hostname == "" {
		o.Hostname = "mx.crash.test"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Storage == "" {
		o.Storage = "min_free_disk = 0"
	}
	for _, name := range Listeners {
		s.Addr[name] = FreeAddr(t)
	}
	dir := t.TempDir()
	s.Config = filepath.Join(dir, "kantorpos.toml")
	s.LogPath = filepath.Join(dir, "server.log")
	cfg := fmt.Sprintf(`hostname = %q
data_dir = %q
%s
[log]
level = %q
[storage]
%s
[smtp]
listen = %q
check_authentication = false
%s
[submission]
listen = %q
listen_tls = ""
allow_insecure_auth = true
sign_dkim = false
[imap]
listen = %q
listen_tls = ""
allow_insecure_auth = true
%s
[pop3]
listen = %q
listen_tls = ""
allow_insecure_auth = true
[managesieve]
listen = ""
[admin]
listen = ""
[web]
listen = ""
listen_tls = ""
[queue]
%s
%s
`, o.Hostname, s.DataDir, userLine, o.LogLevel, o.Storage, s.Addr["smtp"], o.SMTP, s.Addr["submission"], s.Addr["imap"], o.IMAP, s.Addr["pop3"], o.Queue, o.Extra)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill() })
	return s
}

// giveToNobody makes dir the user nobody's and lets it pass through the
// test's temporary directories above it (0700, root's).
func giveToNobody(t testing.TB, dir string) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("binary: no user nobody to run the server as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(dir); strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Admin runs `kantorpos ARGS... -config FILE` with stdin and returns its
// output; it fails the test when the command fails.
func (s *Server) Admin(stdin string, args ...string) string {
	s.t.Helper()
	out, err := s.AdminErr(stdin, args...)
	if err != nil {
		s.t.Fatalf("kantorpos %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// AdminErr is Admin that returns the error.
func (s *Server) AdminErr(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin, append(args, "-config", s.Config)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Start starts `kantorpos serve` and waits until every listener accepts.
func (s *Server) Start() { s.StartWith(nil) }

// StartWith starts the server under a wrapper command (e.g. strace).
func (s *Server) StartWith(wrapper []string) {
	s.t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		s.t.Fatal("binary: already running")
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.mu.Unlock()
		s.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	args := append(append([]string{}, wrapper...), s.Bin, "serve", "-config", s.Config)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.Credential}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.mu.Unlock()
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for _, name := range Listeners {
		for {
			c, err := net.DialTimeout("tcp", s.Addr[name], time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				s.t.Fatalf("kantorpos exited during start:\n%s", s.Log())
			default:
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("kantorpos: %s not listening after 60s:\n%s", name, s.Log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// PID is the process id of the running server (0 when it is not running).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill sends SIGKILL to the server (and its process group: a wrapper's
// children too) and waits for it to be gone. It is safe to call when the
// server is not running.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL)
}

// Stop sends SIGTERM (to the process group) and waits for the graceful
// shutdown.
func (s *Server) Stop() {
	s.signal(syscall.SIGTERM)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, sig) // the process group: a wrapper and the server
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Log returns what the server wrote so far (the tail when long).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	return string(b)
}

// LogContains reports whether the server's log has the text.
func (s *Server) LogContains(text string) bool {
	b, _ := os.ReadFile(s.LogPath)
	return bytes.Contains(b, []byte(text))
}

// Gated skips a long test unless the environment variable env is "1",
// naming how to run it. .ci/run sets it.
func Gated(t testing.TB, env string) {
	t.Helper()
	if os.Getenv(env) != "1" {
		t.Skipf("long black-box test: run with %s=1 (.ci/run does)", env)
	}
}

// NeedCommand is testutil.NeedCommand.
func NeedCommand(t testing.TB, name, debianPackage string) string {
	t.Helper()
	return testutil.NeedCommand(t, name, debianPackage)
}

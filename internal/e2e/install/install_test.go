// Package install tests the Debian package that packaging/build-deb.sh
// builds: its contents, and a server set up from it the way docs/INSTALL.md
// says (quickstart, config check, serve as an unprivileged user).
package install

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/e2e/binary"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebianPackage(t *testing.T) {
	t.Parallel()
	testutil.NeedCommand(t, "dpkg-deb", "dpkg")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test needs root to run the server as another user")
		}
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	dist := t.TempDir()
	cmd := exec.Command("bash", "packaging/build-deb.sh", dist)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "VERSION=1.2.3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(string(out))
	if filepath.Base(deb) != fmt.Sprintf("kantorpos_1.2.3_%s.deb", runtimeArch(t)) {
		t.Fatalf("package name %q", deb)
	}
	info := run(t, "", "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: kantorpos", "Version: 1.2.3", "Depends: adduser", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := run(t, "", "dpkg-deb", "--contents", deb)
	for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/kantorpos", "./lib/systemd/system/kantorpos.service", "./usr/share/doc/kantorpos/INSTALL.md"} {
		if !strings.Contains(contents, want) {
			t.Errorf("package lacks %q:\n%s", want, contents)
		}
	}

	// The unit is hardened as docs/INSTALL.md says.
	root := t.TempDir()
	run(t, "", "dpkg-deb", "--extract", deb, root)
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/kantorpos.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=kantorpos", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/kantorpos",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "Restart=on-failure",
		"ExecStartPre=/usr/bin/kantorpos config check -config /etc/kantorpos/kantorpos.toml",
		"ExecStart=/usr/bin/kantorpos serve -config /etc/kantorpos/kantorpos.toml"} {
		if !bytes.Contains(unit, []byte(want+"\n")) {
			t.Errorf("unit lacks %q", want)
		}
	}
	bin := filepath.Join(root, "usr/bin/kantorpos")
	if v := run(t, "", bin, "version"); !strings.HasPrefix(v, "kantorpos 1.2.3") {
		t.Errorf("version: %q", v)
	}

	// Set up as INSTALL.md says, in the extracted tree: the data directory
	// the postinst makes (the service user's), quickstart, config check.
	for _, d := range []string{root, filepath.Dir(root)} {
		os.Chmod(d, 0o755)
	}
	data := filepath.Join(root, "var/lib/kantorpos")
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(data, uid, gid)
	cfg := filepath.Join(root, "etc/kantorpos/kantorpos.toml")
	cmd = exec.Command(bin, "quickstart", "-config", cfg, "-data", data, "-password-stdin", "mail.example.test", "boss@example.test")
	cmd.Stdin = strings.NewReader("a long admin password\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "MX\t10 mail.example.test.") {
		t.Fatalf("quickstart: %v\n%s", err, out)
	}
	// Loopback ports for this test instead of the standard ones.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	conf := string(text)
	for _, l := range []struct{ key, def string }{
		{"smtp", `listen = ":25"`}, {"submission", `listen = ":587"`}, {"submissions", `listen_tls = ":465"`},
		{"imap", `listen = ":143"`}, {"imaps", `listen_tls = ":993"`}, {"pop3", `listen = ":110"`}, {"pop3s", `listen_tls = ":995"`},
		{"admin", `listen = "127.0.0.1:8080"`}, {"http", `listen = ":80"`}, {"https", `listen_tls = ":443"`},
	} {
		if !strings.Contains(conf, l.def) {
			t.Fatalf("configuration has no %s", l.def)
		}
		addr[l.key] = binary.FreeAddr(t)
		key, _, _ := strings.Cut(l.def, " ")
		conf = strings.Replace(conf, l.def, fmt.Sprintf("%s = %q", key, addr[l.key]), 1)
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chown(cfg, 0, gid)
	os.Chmod(filepath.Dir(cfg), 0o755)
	if out := run(t, "", bin, "config", "check", "-config", cfg); !strings.Contains(out, ": ok") {
		t.Fatalf("config check: %s", out)
	}

	// Start it as the service user (nobody here) and send it mail.
	var logBuf bytes.Buffer
	srv := exec.Command(bin, "serve", "-config", cfg)
	srv.Stdout, srv.Stderr = &logBuf, &logBuf
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		<-done
	}()
	var c net.Conn
	testutil.WaitFor(t, 60*time.Second, "the installed server to listen", func() bool {
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, logBuf.String())
		default:
		}
		c, err = net.Dial("tcp", addr["smtp"])
		return err == nil
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		cmd  string
		code int
	}{{"EHLO client.example.org", 250}, {"MAIL FROM:<a@example.org>", 250}, {"RCPT TO:<boss@example.test>", 250}, {"DATA", 354}} {
		tp.PrintfLine("%s", step.cmd)
		if _, msg, err := tp.ReadResponse(step.code); err != nil {
			t.Fatalf("%s: %v %s", step.cmd, err, msg)
		}
	}
	fmt.Fprintf(c, "From: a@example.org\r\nSubject: hello\r\n\r\nfirst mail\r\n.\r\n")
	if _, msg, err := tp.ReadResponse(250); err != nil {
		t.Fatalf("DATA: %v %s", err, msg)
	}
}

func runtimeArch(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

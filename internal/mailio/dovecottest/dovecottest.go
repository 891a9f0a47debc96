// Package dovecottest runs Debian's Dovecot for tests: a private instance
// in a temporary directory (its own configuration, base_dir, logs and
// Maildirs) listening for IMAP on an ephemeral loopback port, with one
// user. Tests fill it through IMAP (Python's imaplib) or dovecot-lda, then
// read its Maildir or pull from it. The test is skipped (failed when
// CI=true) when Dovecot is not installed.
package dovecottest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

// Debian package that provides dovecot and dovecot-lda.
const Package = "dovecot-imapd"

// Server is a running Dovecot.
type Server struct {
	Addr    string // 127.0.0.1:port, IMAP (STARTTLS offered)
	TLSAddr string // 127.0.0.1:port, IMAP over implicit TLS
	// ClientTLS trusts the server's certificate (made by the test, for
	// 127.0.0.1 and localhost).
	ClientTLS *tls.Config
	User      string
	Password  string
	dir       string
	conf      string
	python    string
}

// Start starts Dovecot with the user alice/secret and stops it when the
// test ends.
func Start(t *testing.T) *Server {
	t.Helper()
	bin := testutil.NeedCommand(t, "dovecot", Package)
	py := testutil.Python(t, "imaplib", "python3")
	dir, err := os.MkdirTemp("", "kantorpos-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Dovecot's login and mail processes run as other users: they must
	// reach the sockets and the Maildirs.
	for _, d := range []string{dir, filepath.Join(dir, "run"), filepath.Join(dir, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	internal, login, mailUID := "dovecot", "dovenull", "dovecot"
	if os.Getuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		internal, login, mailUID = u.Username, u.Username, u.Username
	} else if u, err := user.Lookup("dovecot"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(filepath.Join(dir, "home"), uid, gid)
	}
	port, tlsPort := freePort(t), freePort(t)
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSAddr: fmt.Sprintf("127.0.0.1:%d", tlsPort), User: "alice", Password: "secret", dir: dir,
		conf: filepath.Join(dir, "dovecot.conf"), python: py}
	s.ClientTLS = writeCert(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte("alice:{PLAIN}secret::::::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = %[2]s
default_login_user = %[3]s
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%n %[1]s/users
}
userdb {
  driver = static
  args = uid=%[4]s gid=%[4]s home=%[1]s/home/%%n
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox "Sent Items" {
    special_use = \Sent
  }
  mailbox Trash {
    special_use = \Trash
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[6]d
    ssl = yes
  }
}
service anvil {
  chroot =
}
service stats {
  chroot =
}
`, dir, internal, login, mailUID, port, tlsPort)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-F", "-c", s.conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if out, err := exec.Command(bin, "-n", "-c", s.conf).CombinedOutput(); err != nil {
		t.Fatalf("dovecot configuration: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group we started
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "dovecot.log")); err == nil {
				t.Logf("dovecot.log:\n%s", b)
			}
		}
	})
	testutil.WaitFor(t, 20*time.Second, "dovecot listening on "+s.Addr, func() bool {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot exited:\n%s", b)
		default:
		}
		return false
	})
	return s
}

// writeCert makes a self-signed certificate for the server and returns a
// client configuration that trusts it.
func writeCert(t *testing.T, dir string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Maildir is the Maildir++ root of the user.
func (s *Server) Maildir() string { return filepath.Join(s.dir, "home", s.User, "Maildir") }

// Deliver delivers a message to INBOX with dovecot-lda, as an MTA would
// (it lands in new/, unseen).
func (s *Server) Deliver(t *testing.T, msg string) {
	t.Helper()
	lda := "/usr/lib/dovecot/dovecot-lda"
	if _, err := os.Stat(lda); err != nil {
		t.Fatalf("dovecot-lda: %v", err)
	}
	cmd := exec.Command(lda, "-c", s.conf, "-d", s.User)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dovecot-lda: %v\n%s", err, out)
	}
}

// Python runs a Python script with IMAP (an imaplib.IMAP4 logged in as
// the user) bound to the name "imap", and returns what it prints.
func (s *Server) Python(t *testing.T, script string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Addr)
	prog := fmt.Sprintf("import imaplib, json, re, sys\nimap = imaplib.IMAP4(%q, %s)\nimap.login(%q, %q)\n%s\nimap.logout()\n",
		host, port, s.User, s.Password, script)
	out, err := exec.Command(s.python, "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

// Message is what Dovecot says over IMAP about one message.
type Message struct {
	MessageID string   `json:"message_id"`
	Flags     []string `json:"flags"`
	Size      int64    `json:"size"`
}

// Folder is one folder as Dovecot lists it.
type Folder struct {
	Name       string    `json:"name"` // decoded from modified UTF-7
	SpecialUse string    `json:"special_use"`
	Messages   []Message `json:"messages"`
}

// Contents lists every folder and message over IMAP (LIST, then FETCH
// FLAGS RFC822.SIZE and the Message-ID of each message).
func (s *Server) Contents(t *testing.T) []Folder {
	t.Helper()
	out := s.Python(t, `
def dec(n):
    # modified UTF-7 → str
    res, i = "", 0
    while i < len(n):
        if n[i] == "&":
            j = n.index("-", i)
            if j == i + 1:
                res += "&"
            else:
                b = n[i+1:j].replace(",", "/")
                import base64
                b += "=" * (-len(b) % 4)
                res += base64.b64decode(b).decode("utf-16-be")
            i = j + 1
        else:
            res += n[i]; i += 1
    return res
folders = []
typ, lines = imap.list()
for line in lines:
    m = re.match(rb'\((.*?)\) "(.)" (.*)', line)
    attrs, name = m.group(1).decode(), m.group(3).decode().strip('"')
    if "\\Noselect" in attrs or "\\NonExistent" in attrs:
        continue
    special = ""
    for a in attrs.split():
        if a in ("\\Sent", "\\Trash", "\\Drafts", "\\Junk", "\\Archive"):
            special = a
    imap.select('"' + name + '"', readonly=True)
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    msgs = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta = item[0].decode()
        flags = re.search(r"FLAGS \((.*?)\)", meta).group(1).split()
        size = int(re.search(r"RFC822.SIZE (\d+)", meta).group(1))
        mid = item[1].decode().split(":", 1)[1].strip() if b":" in item[1] else ""
        msgs.append({"message_id": mid, "flags": [f for f in flags if f != "\\Recent"], "size": size})
    folders.append({"name": dec(name), "special_use": special, "messages": msgs})
print(json.dumps(folders))
`)
	var folders []Folder
	if err := json.Unmarshal([]byte(out), &folders); err != nil {
		t.Fatalf("contents: %v\n%s", err, out)
	}
	return folders
}

// Fill gives the user 14 messages: 3 delivered to INBOX by dovecot-lda
// (new/, unseen), and APPENDed ones with flags and keywords in INBOX,
// Work/Sub, "Entwürfe" (a non-ASCII name) and "Sent Items" (\Sent).
func (s *Server) Fill(t *testing.T) {
	t.Helper()
	for i := range 3 {
		s.Deliver(t, fmt.Sprintf("From: lda%d@example.test\nTo: alice@example.test\nSubject: delivered %d\nMessage-ID: <lda%d@example.test>\n\nDelivered by dovecot-lda.\nFrom the LDA.\n", i, i, i))
	}
	s.Python(t, `
import time
for f in ("Work", "Work/Sub", "Entw&APw-rfe", '"Sent Items"'):
    typ, _ = imap.create(f)
    assert typ == "OK", f
n = 0
for folder, flags in (("INBOX", r"(\Seen)"), ("INBOX", r"(\Flagged \Answered $Label1)"),
        ("Work/Sub", r"(\Seen work)"), ("Work/Sub", r"(\Draft)"), ("Work/Sub", r"(\Deleted \Seen)"), ("Work/Sub", "()"),
        ("Entw&APw-rfe", r"(\Seen urgent)"), ("Entw&APw-rfe", r"(\Draft $Label1)"),
        ('"Sent Items"', r"(\Seen)"), ('"Sent Items"', r"(\Seen)"), ('"Sent Items"', r"(\Seen \Answered)")):
    n += 1
    body = ("From: alice@example.test\nTo: bob%d@example.test\nSubject: appended %d\nMessage-ID: <app%d@example.test>\n\n" % (n, n, n)
            + "Line %d\nFrom the body, unquoted.\n" % n + ("x" * 70 + "\n") * n)
    date = imaplib.Time2Internaldate(time.mktime((2024, 1 + n % 12, 1 + n, 10, n, 0, 0, 0, 0)))
    typ, resp = imap.append(folder, flags, date, body.encode())
    assert typ == "OK", resp
`)
}

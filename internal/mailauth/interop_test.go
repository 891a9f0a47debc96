package mailauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

// Interoperability with DKIM implementations we did not write. The Debian
// packages: python3-dkim and python3-nacl (dkimpy), opendkim-tools
// (opendkim-testmsg).

// needTool skips the test when a tool is missing, naming the Debian
// package, or fails it under CI=true, where .ci/run must have installed it.
func needTool(t *testing.T, pkg string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v: install the Debian package(s) %s", err, pkg)
	}
	t.Skipf("%v: install the Debian package(s) %s to run this test", err, pkg)
}

// dkimpy returns a python3 that can import dkim and nacl. Debian's modules
// live in /usr/bin/python3's dist-packages, which a python3 from elsewhere
// (pyenv) on PATH does not see, so that one is tried first.
func dkimpy(t *testing.T) string {
	t.Helper()
	var tried []string
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		out, err := exec.Command(py, "-c", "import dkim, nacl").CombinedOutput()
		if err == nil {
			return py
		}
		tried = append(tried, py+": "+strings.TrimSpace(string(out)))
	}
	needTool(t, "python3-dkim python3-nacl", &exec.Error{Name: "python3 with dkim and nacl", Err: exec.ErrNotFound})
	t.Log(tried)
	return ""
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	return runToolStdin(t, "", name, args...)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInteropDkimpyVerifies: dkimpy verifies both signatures Sign makes.
func TestInteropDkimpyVerifies(t *testing.T) {
	t.Parallel()
	py := dkimpy(t)
	keys, err := GenerateKeys("example.test", t0)
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]string{}
	for _, k := range keys {
		name, value, err := DNSRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		records[name+"."] = value
	}
	rec, _ := json.Marshal(records)
	recPath := writeFile(t, "records.json", rec)
	signed := sign(t, basicMessage("alice@example.test"), keys...)

	tests := []struct {
		name string
		msg  string
		want string
	}{
		{"as signed", signed, "0 pass\n1 pass\n"},
		// A negative control: dkimpy must notice a change.
		{"tampered", strings.Replace(signed, "lunch", "dinner", 1), "0 fail\n1 fail\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := runTool(t, py, "testdata/dkimpy_helper.py", "verify", writeFile(t, "msg.eml", []byte(tt.msg)), recPath)
			if out != tt.want {
				t.Errorf("dkimpy says\n%s\nwant\n%s\nmessage:\n%s", out, tt.want, tt.msg)
			}
		})
	}
}

// TestInteropDkimpySigns: our Verifier accepts what dkimpy signs, and
// rejects dkimpy's valid l= and rsa-sha1 signatures.
func TestInteropDkimpySigns(t *testing.T) {
	t.Parallel()
	py := dkimpy(t)
	keys, err := GenerateKeys("example.test", t0)
	if err != nil {
		t.Fatal(err)
	}
	s := dnstest.New(t)
	publish(t, s, keys...)
	s.Add(t, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`)
	v := newVerifier(t, s)
	edKeyFile, rsaKeyFile := dkimpyKeys(t, keys)
	tests := []struct {
		name     string
		selector string
		keyFile  string
		alg      string
		length   bool
		want     authres.ResultValue
	}{
		{"ed25519", keys[0].Selector, edKeyFile, "ed25519-sha256", false, authres.ResultPass},
		{"rsa", keys[1].Selector, rsaKeyFile, "rsa-sha256", false, authres.ResultPass},
		{"l= tag", keys[1].Selector, rsaKeyFile, "rsa-sha256", true, authres.ResultFail},
		{"rsa-sha1", keys[1].Selector, rsaKeyFile, "rsa-sha1", false, authres.ResultPermError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := basicMessage("alice@example.test")
			args := []string{"testdata/dkimpy_helper.py", "sign", writeFile(t, "msg.eml", []byte(msg)),
				tt.selector, "example.test", tt.keyFile, tt.alg}
			if tt.length {
				args = append(args, "length")
			}
			sig := runTool(t, py, args...)
			if tt.length && !strings.Contains(sig, "l=") {
				t.Fatalf("dkimpy did not add l=: %s", sig)
			}
			res := verify(t, v, ConnInfo{IP: ip1, HELO: "client.test", MailFrom: "alice@example.test"}, sig+msg)
			if len(res.DKIM) != 1 || res.DKIM[0].Value != tt.want {
				t.Fatalf("DKIM = %+v, want %s", res.DKIM, tt.want)
			}
			wantAction := Accept
			if tt.want != authres.ResultPass {
				wantAction = Reject // p=reject and no SPF record
			}
			if res.Action != wantAction {
				t.Errorf("action %s, want %s", res.Action, wantAction)
			}
		})
	}
}

// dkimpyKeys writes our keys in the formats dkimpy reads: a base64 ed25519
// seed and a PKCS #1 PEM RSA key.
func dkimpyKeys(t *testing.T, keys []DKIMKey) (ed, rsaPath string) {
	t.Helper()
	for _, k := range keys {
		priv, err := k.signer()
		if err != nil {
			t.Fatal(err)
		}
		switch p := priv.(type) {
		case ed25519.PrivateKey:
			ed = writeFile(t, "ed.key", []byte(base64.StdEncoding.EncodeToString(p.Seed())))
		case *rsa.PrivateKey:
			rsaPath = writeFile(t, "rsa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(p)}))
		}
	}
	return ed, rsaPath
}

// TestInteropOpenDKIMRSASHA1: opendkim-testmsg signs with rsa-sha1 (it has
// no option for sha256, and fails on ed25519 keys: "dkim_eom(): Resource
// unavailable"). Such a signature is valid, as dkimpy confirms, and our
// Verifier must still not accept it (RFC 8301 3.1). opendkim-testmsg
// verifies only through the system resolver, so it cannot check our
// signatures against the loopback DNS; dkimpy covers that direction.
func TestInteropOpenDKIMRSASHA1(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("opendkim-testmsg")
	if err != nil {
		tool, err = exec.LookPath("/usr/sbin/opendkim-testmsg")
	}
	needTool(t, "opendkim-tools", err)
	keys, err := GenerateKeys("example.test", t0)
	if err != nil {
		t.Fatal(err)
	}
	k := keys[1] // RSA
	s := dnstest.New(t)
	publish(t, s, k)
	v := newVerifier(t, s)

	out := runToolStdin(t, basicMessage("alice@example.test"), tool,
		"-C", "-d", k.Domain, "-s", k.Selector, "-k", writeFile(t, "key.pem", k.PrivateKeyPEM))
	signed := strings.ReplaceAll(strings.ReplaceAll(out, "\r\n", "\n"), "\n", "\r\n")
	res := verify(t, v, ConnInfo{IP: ip1, HELO: "client.test"}, signed)
	if len(res.DKIM) != 1 || res.DKIM[0].Algorithm != "rsa-sha1" || res.DKIM[0].Value != authres.ResultPermError {
		t.Fatalf("DKIM = %+v, want an rsa-sha1 permerror; message:\n%s", res.DKIM, signed)
	}

	// The signature itself is good: dkimpy, which still verifies sha1,
	// accepts it.
	py := dkimpy(t)
	name, value, _ := DNSRecord(k)
	rec, _ := json.Marshal(map[string]string{name + ".": value})
	got := runTool(t, py, "testdata/dkimpy_helper.py", "verify",
		writeFile(t, "msg.eml", []byte(signed)), writeFile(t, "records.json", rec))
	if got != "0 pass\n" {
		t.Errorf("dkimpy says %q about OpenDKIM's signature", got)
	}
}

func runToolStdin(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.String())
	}
	return string(out)
}

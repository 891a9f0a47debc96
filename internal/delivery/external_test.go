package delivery

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

// needAiosmtpd returns a python3 that can import aiosmtpd (Debian's
// python3-aiosmtpd): skipped locally without one, a failure under CI=true.
func needAiosmtpd(t *testing.T) string {
	t.Helper()
	return testutil.Python(t, "aiosmtpd", "python3-aiosmtpd")
}

// aioMsg is one message as the aiosmtpd sink wrote it.
type aioMsg struct {
	MailFrom    string     `json:"mail_from"`
	RcptTos     []string   `json:"rcpt_tos"`
	MailOptions []string   `json:"mail_options"`
	RcptOptions [][]string `json:"rcpt_options"`
	TLS         bool       `json:"tls"`
	Content     string     `json:"content"`
}

// startAiosmtpd runs testdata/aiosmtpd_sink.py and returns its port and
// output directory. With tls, it offers STARTTLS with a certificate made
// for this test (written to a temporary directory, never committed).
func startAiosmtpd(t *testing.T, py string, tls bool) (port int, outdir string) {
	t.Helper()
	outdir = t.TempDir()
	args := []string{filepath.Join("testdata", "aiosmtpd_sink.py"), outdir}
	if tls {
		cert, _ := testCert(t, "mx.b.test")
		keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, certFile, keyFile)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait() //nolint:errcheck // killed on purpose
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("aiosmtpd sink did not start: %v", err)
	}
	if port, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("aiosmtpd sink printed %q", line)
	}
	return port, outdir
}

// TestAiosmtpd delivers to a server we did not write (Python's aiosmtpd)
// and checks what it stored: the envelope, the ESMTP parameters, TLS, and
// the content byte for byte, for a body full of smuggling look-alikes,
// bare line ends and 8-bit text.
func TestAiosmtpd(t *testing.T) {
	t.Parallel()
	py := needAiosmtpd(t)
	body := "From: alice@a.test\nTo: bøb@b.test\nSubject: caf\xc3\xa9\n\n" +
		"line\n.\r\nMAIL FROM:<evil@x>\r\n" + // LF . CRLF
		"x\r.\r\nRCPT TO:<evil@x>\r\n" + // CR . CRLF
		"y\n.\nDATA\n" + // LF . LF
		".leading dot\r\n" +
		".\r\n" + // a lone dot line
		"bare\rcr and end"
	want := "From: alice@a.test\r\nTo: bøb@b.test\r\nSubject: caf\xc3\xa9\r\n\r\n" +
		"line\r\n.\r\nMAIL FROM:<evil@x>\r\n" +
		"x\r\n.\r\nRCPT TO:<evil@x>\r\n" +
		"y\r\n.\r\nDATA\r\n" +
		".leading dot\r\n" +
		".\r\n" +
		"bare\r\ncr and end\r\n"
	for _, useTLS := range []bool{false, true} {
		t.Run("tls="+strconv.FormatBool(useTLS), func(t *testing.T) {
			t.Parallel()
			port, outdir := startAiosmtpd(t, py, useTLS)
			// The go-smtp receiver that setup starts stays idle: MX port is aiosmtpd's.
			f := setup(t, recvConfig{}, mxRecords, func(c *Config) { c.Port = port })
			m := newMsg(body, "bøb@b.test", "carol@b.test")
			m.EightBit, m.SMTPUTF8 = true, true
			for _, r := range deliver(t, f.tr, m) {
				if r.Status != Delivered || (r.TLS != "") != useTLS {
					t.Fatalf("%s: %v %d %s TLS %q (err %v)", r.Rcpt, r.Status, r.Code, r.Message, r.TLS, r.Err)
				}
			}
			var got aioMsg
			waitFor(t, "aiosmtpd to store the message", func() bool {
				b, err := os.ReadFile(filepath.Join(outdir, "msg1.json"))
				return err == nil && json.Unmarshal(b, &got) == nil
			})
			content, err := base64.StdEncoding.DecodeString(got.Content)
			if err != nil {
				t.Fatal(err)
			}
			if string(content) != want {
				t.Errorf("aiosmtpd stored\n%q\nwant\n%q", content, want)
			}
			if got.MailFrom != "alice@a.test" || strings.Join(got.RcptTos, ",") != "bøb@b.test,carol@b.test" || got.TLS != useTLS {
				t.Errorf("envelope %q %q tls=%v", got.MailFrom, got.RcptTos, got.TLS)
			}
			for _, p := range []string{"SIZE=" + strconv.Itoa(len(body)), "BODY=8BITMIME", "SMTPUTF8"} {
				if !slices.Contains(got.MailOptions, p) {
					t.Errorf("MAIL parameters %q lack %s", got.MailOptions, p)
				}
			}
			if _, err := os.Stat(filepath.Join(outdir, "msg2.json")); err == nil {
				t.Error("aiosmtpd stored a second message: something was smuggled")
			}
		})
	}
}

package smtpserver_test

// End-to-end runs with the programs users run: swaks (Debian packages swaks,
// libio-socket-ssl-perl for TLS, libauthen-sasl-perl for AUTH) and Python's
// smtplib, against the three listeners on the real store.

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testenv"
)

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// needPerlModule skips (or fails under CI=true) without a Perl module swaks needs.
func needPerlModule(t *testing.T, module, debPackage string) {
	t.Helper()
	if err := exec.Command("perl", "-M"+module, "-e", "1").Run(); err != nil {
		testenv.NeedCommand(t, "perl-module-"+module+"-missing", debPackage)
	}
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func TestSwaks(t *testing.T) {
	t.Parallel()
	testenv.NeedCommand(t, "swaks", "swaks")
	needPerlModule(t, "IO::Socket::SSL", "libio-socket-ssl-perl")
	needPerlModule(t, "Authen::SASL", "libauthen-sasl-perl")
	e := newSQLEnv(t)
	mxHost, mxPort := hostPort(t, e.mx)
	_, subPort := hostPort(t, e.sub)
	_, subsPort := hostPort(t, e.subs)
	base := []string{"--server", mxHost, "--helo", "client.test", "--timeout", "20"}
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    string // in swaks' output
	}{
		{"plaintext", []string{"--port", mxPort, "--from", "s@ext.test", "--to", "alice@local.test"}, false, "250 2.0.0 OK id="},
		{"starttls", []string{"--port", mxPort, "--tls", "--from", "s@ext.test", "--to", "alice@local.test"}, false, "220 2.0.0 Ready to start TLS"},
		{"pipeline", []string{"--port", mxPort, "--pipeline", "--from", "s@ext.test", "--to", "alice@local.test,bob@local.test"}, false, "250 2.0.0 OK id="},
		{"relay refused", []string{"--port", mxPort, "--from", "s@ext.test", "--to", "victim@ext2.test"}, true, "554 5.7.1"},
		// RFC 5321 4.5.1: postmaster of local.test (no alias: alice).
		{"bare postmaster", []string{"--port", mxPort, "--from", "s@ext.test", "--to", "Postmaster"}, false, "RCPT TO:<Postmaster>"},
		{"relay trick refused", []string{"--port", mxPort, "--from", "<>", "--to", "victim%ext2.test@local.test"}, true, "554 5.7.1"},
		{"submission without auth", []string{"--port", subPort, "--tls", "--from", "alice@local.test", "--to", "far@ext.test"}, true, "530 5.7.0"},
		{"submission starttls auth login", []string{"--port", subPort, "--tls", "--auth", "LOGIN", "--auth-user", "alice@local.test", "--auth-password", alicePass,
			"--from", "alice@local.test", "--to", "far@ext.test", "--header", "From: alice@local.test"}, false, "235 2.0.0"},
		{"submission implicit tls auth plain pipeline", []string{"--port", subsPort, "--tls-on-connect", "--pipeline", "--auth", "PLAIN", "--auth-user", "alice@local.test",
			"--auth-password", alicePass, "--from", "alice@local.test", "--to", "far@ext.test,bob@local.test", "--header", "From: alice@local.test"}, false, "250 2.0.0 OK id="},
		{"wrong password", []string{"--port", subsPort, "--tls-on-connect", "--auth", "PLAIN", "--auth-user", "alice@local.test", "--auth-password", "nope",
			"--from", "alice@local.test", "--to", "far@ext.test"}, true, "535 5.7.8"},
		{"plaintext auth refused", []string{"--port", subPort, "--auth", "PLAIN", "--auth-user", "alice@local.test", "--auth-password", alicePass,
			"--from", "alice@local.test", "--to", "far@ext.test"}, true, ""},
	}
	for _, tc := range tests {
		out, err := run(t, "swaks", append(append([]string{}, base...), tc.args...)...)
		if (err != nil) != tc.wantErr || !strings.Contains(out, tc.want) {
			t.Errorf("%s: err %v, output:\n%s", tc.name, err, out)
		}
		if strings.Contains(out, "AUTH "+alicePass) {
			t.Errorf("%s: password in clear", tc.name)
		}
	}
	// plaintext, starttls, pipeline, Postmaster on the MX; bob got pipeline
	// and implicit TLS.
	if n := len(e.folder(e.alice, "INBOX")); n != 4 {
		t.Errorf("alice has %d messages, want 4", n)
	}
	if n := len(e.folder(e.bob, "INBOX")); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
	if q := e.queue(); len(q) != 2 || q[0].Rcpts[0].Addr != "far@ext.test" || q[0].AccountID != e.alice.ID {
		t.Errorf("queue %+v", q)
	}
}

const pythonScript = `
import smtplib, ssl, sys
mx, sub, subs, pw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
msg = "From: alice@local.test\r\nTo: bob@local.test\r\nSubject: from python\r\n\r\nHi from smtplib.\r\n"

# MX, plaintext then STARTTLS.
with smtplib.SMTP("127.0.0.1", int(mx), local_hostname="py.test", timeout=20) as s:
    s.ehlo()
    assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
    assert s.has_extn("pipelining") and s.has_extn("smtputf8") and s.has_extn("dsn") and s.has_extn("chunking")
    s.sendmail("p@ext.test", ["bob@local.test"], msg)
    s.starttls(context=ctx)
    s.ehlo()
    s.sendmail("p@ext.test", ["bob@local.test"], msg)
    try:
        s.sendmail("p@ext.test", ["x@ext2.test"], msg)
        sys.exit("relay accepted")
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["x@ext2.test"][0] == 554, e.recipients
    try:
        s.sendmail("p@ext.test", ["nobody@local.test"], msg)
        sys.exit("unknown user accepted")
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["nobody@local.test"][0] == 550, e.recipients
    code, text = s.verify("alice")
    assert code == 252, (code, text)

# Submission: STARTTLS then AUTH; MAIL before AUTH is refused.
with smtplib.SMTP("127.0.0.1", sub, local_hostname="py.test", timeout=20) as s:
    s.starttls(context=ctx)
    try:
        s.sendmail("alice@local.test", ["far@ext.test"], msg)
        sys.exit("unauthenticated submission accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 530, e
    s.login("alice@local.test", pw)
    s.sendmail("alice@local.test", ["far@ext.test", "bob@local.test"], msg)
    try:
        s.sendmail("bob@local.test", ["far@ext.test"], msg)
        sys.exit("foreign sender accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 553, e

# Implicit TLS (465 style).
with smtplib.SMTP_SSL("127.0.0.1", subs, local_hostname="py.test", context=ctx, timeout=20) as s:
    s.login("alice@local.test", pw)
    s.sendmail("alice@local.test", ["bob@local.test"], msg)
    code, text = s.docmd("AUTH", "PLAIN AGFsaWNlQGxvY2FsLnRlc3QAeA==")
    assert code == 503, (code, text)  # RFC 4954 4: no second AUTH
print("python ok")
`

func TestPythonSmtplib(t *testing.T) {
	t.Parallel()
	testenv.NeedCommand(t, "python3", "python3")
	e := newSQLEnv(t)
	_, mxPort := hostPort(t, e.mx)
	_, subPort := hostPort(t, e.sub)
	_, subsPort := hostPort(t, e.subs)
	out, err := run(t, "python3", "-c", pythonScript, mxPort, subPort, subsPort, alicePass)
	if err != nil || !strings.Contains(out, "python ok") {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if n := len(e.folder(e.bob, "INBOX")); n != 4 {
		t.Errorf("bob has %d messages, want 4", n)
	}
	if q := e.queue(); len(q) != 1 || q[0].Rcpts[0].Addr != "far@ext.test" {
		t.Errorf("queue %+v", q)
	}
}

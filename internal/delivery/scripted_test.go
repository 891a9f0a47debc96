package delivery

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

// step is one move of a scripted SMTP server: send a reply (lines joined
// with \r\n, written in one go), expect one exact command line, or read a
// DATA body up to the final dot.
type step struct {
	send   string
	expect string
	body   bool
}

// scripted serves one script per accepted connection, in order, on
// 127.0.0.1, and fails the test on any deviation. With tlsCfg the
// connections speak TLS from the start.
func scripted(t *testing.T, tlsCfg *tls.Config, scripts ...[]step) (port int, wait func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, script := range scripts {
			c, err := l.Accept()
			if err != nil {
				t.Errorf("script %d: accept: %v", i, err)
				return
			}
			if tlsCfg != nil {
				c = tls.Server(c, tlsCfg)
			}
			runScript(t, i, c, script)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port, func() {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("script did not finish")
		}
	}
}

func runScript(t *testing.T, n int, c net.Conn, script []step) {
	c.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	r := bufio.NewReader(c)
	for i, s := range script {
		switch {
		case s.send != "":
			if _, err := c.Write([]byte(strings.ReplaceAll(s.send, "\n", "\r\n") + "\r\n")); err != nil {
				t.Errorf("script %d step %d: write: %v", n, i, err)
				return
			}
		case s.body:
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Errorf("script %d step %d: reading body: %v", n, i, err)
					return
				}
				if line == ".\r\n" {
					break
				}
			}
		default:
			line, err := r.ReadString('\n')
			if err != nil {
				t.Errorf("script %d step %d: want %q, got error %v", n, i, s.expect, err)
				return
			}
			if got := strings.TrimSuffix(line, "\r\n"); got != s.expect {
				t.Errorf("script %d step %d: got %q, want %q", n, i, got, s.expect)
				return
			}
		}
	}
}

func scriptedTransport(t *testing.T, port int, mod func(*Config)) *Transport {
	t.Helper()
	d := dnstest.New(t)
	d.Add(t, mxRecords...)
	d.Add(t, "smarthost.test. A 127.0.0.1")
	cfg := Config{
		Resolver: d.Resolver(), Hostname: "mta.a.test", Port: port,
		// Generous for loaded CI machines; a client that fails to pipeline
		// still fails the pipelining case, by timing out.
		Timeouts: Timeouts{Connect: 20 * time.Second, Greeting: 20 * time.Second, Command: 20 * time.Second,
			DataInit: 20 * time.Second, DataBlock: 20 * time.Second, DataEnd: 20 * time.Second},
		Pool: PoolConfig{Disable: true},
	}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

var (
	greet = step{send: "220 mx.b.test ESMTP"}
	quit  = []step{{expect: "QUIT"}, {send: "221 2.0.0 bye"}}
)

func seq(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestScripted(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	type want struct {
		status   Status
		code     int
		enhanced string
		message  string
	}
	tests := []struct {
		name    string
		tls     bool
		route   *Route
		scripts [][]step
		want    []want
	}{
		{
			// The server reads MAIL, both RCPTs and DATA before it answers
			// anything: a client that waits for the MAIL reply would
			// deadlock and time out.
			name: "pipelined group and multi-line replies",
			scripts: [][]step{seq([]step{greet,
				{expect: "EHLO mta.a.test"},
				{send: "250-mx.b.test\n250-PIPELINING\n250-ENHANCEDSTATUSCODES\n250 8BITMIME"},
				{expect: "MAIL FROM:<alice@a.test>"},
				{expect: "RCPT TO:<bob@b.test>"},
				{expect: "RCPT TO:<carol@b.test>"},
				{expect: "DATA"},
				{send: "250 2.1.0 ok\n250 2.1.5 ok\n550-5.1.1 no such\n550-5.1.1 user\n550 5.1.1 here\n354 go ahead"},
				{body: true},
				{send: "250-2.0.0 queued\n250 2.0.0 as 123"},
			}, quit)},
			want: []want{{Delivered, 250, "2.0.0", "queued as 123"}, {PermFail, 550, "5.1.1", "no such user here"}},
		},
		{
			name: "EHLO refused, HELO and lockstep",
			scripts: [][]step{seq([]step{greet,
				{expect: "EHLO mta.a.test"}, {send: "502 5.5.1 what?"},
				{expect: "HELO mta.a.test"}, {send: "250 mx.b.test"},
				{expect: "MAIL FROM:<alice@a.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<bob@b.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<carol@b.test>"}, {send: "250 ok"},
				{expect: "DATA"}, {send: "354 go"},
				{body: true}, {send: "250 ok"},
			}, quit)},
			want: []want{{Delivered, 250, "2.0.0", "ok"}, {Delivered, 250, "2.0.0", "ok"}},
		},
		{
			// Plaintext sent after the 220 to STARTTLS is an injection: the
			// client refuses TLS there and, as no other host exists, comes
			// back in plaintext.
			name: "STARTTLS response injection",
			scripts: [][]step{
				{greet,
					{expect: "EHLO mta.a.test"}, {send: "250-mx.b.test\n250 STARTTLS"},
					{expect: "STARTTLS"}, {send: "220 2.0.0 go ahead\n250 2.0.0 injected"}},
				seq([]step{greet,
					{expect: "EHLO mta.a.test"}, {send: "250-mx.b.test\n250 STARTTLS"},
					{expect: "MAIL FROM:<alice@a.test>"}, {send: "250 ok"},
					{expect: "RCPT TO:<bob@b.test>"}, {send: "250 ok"},
					{expect: "RCPT TO:<carol@b.test>"}, {send: "250 ok"},
					{expect: "DATA"}, {send: "354 go"},
					{body: true}, {send: "250 ok"},
				}, quit),
			},
			want: []want{{Delivered, 250, "2.0.0", "ok"}, {Delivered, 250, "2.0.0", "ok"}},
		},
		{
			name: "421 at RCPT ends the session",
			scripts: [][]step{{greet,
				{expect: "EHLO mta.a.test"}, {send: "250 mx.b.test"},
				{expect: "MAIL FROM:<alice@a.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<bob@b.test>"}, {send: "421 4.3.2 shutting down"},
			}},
			want: []want{{TempFail, 421, "4.3.2", "shutting down"}, {TempFail, 421, "4.3.2", "shutting down"}},
		},
		{
			name: "connection lost after DATA",
			scripts: [][]step{{greet,
				{expect: "EHLO mta.a.test"}, {send: "250-mx.b.test\n250 PIPELINING"},
				{expect: "MAIL FROM:<alice@a.test>"}, {expect: "RCPT TO:<bob@b.test>"},
				{expect: "RCPT TO:<carol@b.test>"}, {expect: "DATA"},
				{send: "250 ok\n250 ok\n550 5.1.1 unknown\n354 go"},
				{body: true},
			}},
			want: []want{{TempFail, 451, "4.4.2", ""}, {PermFail, 550, "5.1.1", "unknown"}},
		},
		{
			name: "4xx to the DATA command, lockstep",
			scripts: [][]step{seq([]step{greet,
				{expect: "EHLO mta.a.test"}, {send: "250 mx.b.test"},
				{expect: "MAIL FROM:<alice@a.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<bob@b.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<carol@b.test>"}, {send: "550 5.1.1 unknown"},
				{expect: "DATA"}, {send: "451 4.3.0 try later"},
			}, quit)},
			want: []want{{TempFail, 451, "4.3.0", "try later"}, {PermFail, 550, "5.1.1", "unknown"}},
		},
		{
			name: "4xx to the DATA command, pipelined",
			scripts: [][]step{seq([]step{greet,
				{expect: "EHLO mta.a.test"}, {send: "250-mx.b.test\n250 PIPELINING"},
				{expect: "MAIL FROM:<alice@a.test>"}, {expect: "RCPT TO:<bob@b.test>"},
				{expect: "RCPT TO:<carol@b.test>"}, {expect: "DATA"},
				{send: "250 ok\n250 ok\n250 ok\n451 4.3.0 try later"},
			}, quit)},
			want: []want{{TempFail, 451, "4.3.0", "try later"}, {TempFail, 451, "4.3.0", "try later"}},
		},
		{
			name:    "reply line too long",
			scripts: [][]step{{{send: "220 " + strings.Repeat("x", 5000)}}},
			want:    []want{{TempFail, 451, "4.4.2", ""}, {TempFail, 451, "4.4.2", ""}},
		},
		{
			name: "too many reply lines",
			scripts: [][]step{{greet, {expect: "EHLO mta.a.test"},
				{send: strings.Repeat("250-X\n", 200) + "250 Y"}}},
			want: []want{{TempFail, 451, "4.4.2", ""}, {TempFail, 451, "4.4.2", ""}},
		},
		{
			name: "AUTH LOGIN over implicit TLS",
			tls:  true,
			route: &Route{Host: "smarthost.test", Mode: ModeTLS, SkipVerify: true,
				Username: "user@a.test", Password: "pw"},
			scripts: [][]step{seq([]step{greet,
				{expect: "EHLO mta.a.test"}, {send: "250-smarthost.test\n250 AUTH LOGIN"},
				{expect: "AUTH LOGIN"}, {send: "334 VXNlcm5hbWU6"},
				{expect: b64("user@a.test")}, {send: "334 UGFzc3dvcmQ6"},
				{expect: b64("pw")}, {send: "235 2.7.0 ok"},
				{expect: "MAIL FROM:<alice@a.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<bob@b.test>"}, {send: "250 ok"},
				{expect: "RCPT TO:<carol@b.test>"}, {send: "250 ok"},
				{expect: "DATA"}, {send: "354 go"},
				{body: true}, {send: "250 ok"},
			}, quit)},
			want: []want{{Delivered, 250, "2.0.0", "ok"}, {Delivered, 250, "2.0.0", "ok"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tlsCfg *tls.Config
			if tc.tls {
				cert, _ := testCert(t, "smarthost.test")
				tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}}
			}
			port, wait := scripted(t, tlsCfg, tc.scripts...)
			tr := scriptedTransport(t, port, func(c *Config) {
				if tc.route != nil {
					r := *tc.route
					r.Port = port
					c.Routes.Default = &r
				}
			})
			res := deliver(t, tr, newMsg(simpleBody, "bob@b.test", "carol@b.test"))
			wait()
			for i, w := range tc.want {
				r := res[i]
				if r.Status != w.status || r.Code != w.code || r.Enhanced != w.enhanced || (w.message != "" && r.Message != w.message) {
					t.Errorf("%s: got %v %d %s %q (err %v), want %v %d %s %q",
						r.Rcpt, r.Status, r.Code, r.Enhanced, r.Message, r.Err, w.status, w.code, w.enhanced, w.message)
				}
			}
		})
	}
}

// TestWriteLineRefusesCRLF: no command line with CR or LF ever leaves.
func TestWriteLineRefusesCRLF(t *testing.T) {
	t.Parallel()
	c := &client{w: bufio.NewWriter(new(strings.Builder))}
	if err := c.writeLine("RCPT TO:<a@b>\r\nDATA"); !errors.Is(err, errProtocol) {
		t.Errorf("got %v", err)
	}
}

// TestStalePooledConnection: the server drops a connection while it sits
// in the pool; the next message finds RSET failing and dials afresh.
func TestStalePooledConnection(t *testing.T) {
	t.Parallel()
	tx := func(rcpt string) []step {
		return []step{
			{expect: "MAIL FROM:<alice@a.test>"}, {send: "250 ok"},
			{expect: "RCPT TO:<" + rcpt + ">"}, {send: "250 ok"},
			{expect: "DATA"}, {send: "354 go"},
			{body: true}, {send: "250 ok"},
		}
	}
	ehlo := []step{greet, {expect: "EHLO mta.a.test"}, {send: "250 mx.b.test"}}
	port, wait := scripted(t, nil,
		seq(ehlo, tx("bob@b.test")), // then the server closes: no QUIT
		seq(ehlo, tx("carol@b.test"), quit),
	)
	tr := scriptedTransport(t, port, func(c *Config) { c.Pool = PoolConfig{IdleTimeout: time.Minute} })
	if r := deliver(t, tr, newMsg(simpleBody, "bob@b.test"))[0]; r.Status != Delivered {
		t.Fatalf("first: %v %d %s", r.Status, r.Code, r.Message)
	}
	if r := deliver(t, tr, newMsg(simpleBody, "carol@b.test"))[0]; r.Status != Delivered {
		t.Fatalf("second: %v %d %s (err %v)", r.Status, r.Code, r.Message, r.Err)
	}
	tr.Close()
	wait()
}

package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// pair is two servers, A (a.test, user amy) and B (b.test, user bob),
// resolving each other through one loopback DNS server, on one fake clock.
// A's queue delivers to B's SMTP port.
type pair struct {
	dns    *dnstest.Server
	clock  *clock.Fake
	a, b   *testenv.Env
	amy    store.Account
	bob    store.Account
	bPort  string
	bData  string
	bAddrs map[string]string
}

func newPair(t *testing.T, configureA func(*config.Config)) *pair {
	t.Helper()
	p := &pair{dns: dnstest.New(t), clock: clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))}
	p.b = testenv.Start(t, testenv.Options{Hostname: "mx.b.test", DNS: p.dns, Clock: p.clock,
		Configure: func(c *config.Config) { c.SMTP.CheckAuthentication = true }})
	p.bob = p.b.AddUser(t, "bob@b.test", "bob's password")
	_, p.bPort, _ = net.SplitHostPort(p.b.Addr["smtp"])
	p.bData, p.bAddrs = p.b.DataDir, p.b.Addr
	port, _ := strconv.Atoi(p.bPort)
	p.a = testenv.Start(t, testenv.Options{Hostname: "mx.a.test", DNS: p.dns, Clock: p.clock,
		Configure: func(c *config.Config) {
			c.Queue.Port = port
			if configureA != nil {
				configureA(c)
			}
		}})
	p.amy = p.a.AddUser(t, "amy@a.test", "amy's password")
	p.dns.Add(t, "b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.1", "a.test. MX 10 mx.a.test.", "mx.a.test. A 127.0.0.1")
	return p
}

// publishA puts every record `kantorpos dns a.test` prints into the DNS.
func (p *pair) publishA(t *testing.T) {
	t.Helper()
	records, err := p.a.Server.Ops.DNSRecords(context.Background(), "a.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		switch r.Type {
		case "TXT":
			p.dns.SetTXT(r.Name, r.Value)
		case "MX", "A", "AAAA":
			// already there (127.0.0.1 rather than a public address)
		default:
			p.dns.Add(t, r.Name+" 300 IN "+r.Type+" "+r.Value)
		}
	}
}

// stopB stops B; startB starts it again on the same port and data.
func (p *pair) stopB() { p.b.Stop() }

func (p *pair) startB(t *testing.T) {
	t.Helper()
	p.b = testenv.Start(t, testenv.Options{Hostname: "mx.b.test", DNS: p.dns, Clock: p.clock, DataDir: p.bData,
		Configure: func(c *config.Config) {
			c.SMTP.CheckAuthentication = true
			c.SMTP.Listen = "127.0.0.1:" + p.bPort
		}})
}

// submit sends a message from amy through A's submission port (465).
func submit(t *testing.T, e *testenv.Env, user, pass, from string, to []string, msg string) {
	t.Helper()
	c, err := smtp.DialTLS(e.Addr["submissions"], e.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatal(err)
	}
	if err := send(t, c, from, to, msg); err != nil {
		t.Fatal(err)
	}
}

func (p *pair) submit(t *testing.T, to []string, subject string) {
	t.Helper()
	msg := "From: Amy <amy@a.test>\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: " + subject + "\r\n\r\nHello from A.\r\n.leading dot\r\n"
	submit(t, p.a, "amy@a.test", "amy's password", "amy@a.test", to, msg)
}

func queueLen(t *testing.T, e *testenv.Env) int {
	q, err := e.Store.QueueEntries(context.Background(), store.QueueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(q)
}

func waitInbox(t *testing.T, e *testenv.Env, acc store.Account, n int) []string {
	t.Helper()
	var got []string
	testenv.WaitFor(t, 20*time.Second, acc.Address+" to have "+strconv.Itoa(n)+" messages", func() bool {
		got = inboxContents(t, e, acc.ID)
		return len(got) >= n
	})
	return got
}

// advance moves the shared clock and wakes A's runner.
func (p *pair) advance(d time.Duration) {
	p.clock.Advance(d)
	p.a.Server.Queue.Kick()
}

func TestQueueDeliversSignedMailToOtherServer(t *testing.T) {
	t.Parallel()
	p := newPair(t, nil)
	p.publishA(t)
	p.submit(t, []string{"bob@b.test"}, "first")
	got := waitInbox(t, p.b, p.bob, 1)[0]
	for _, want := range []string{"Subject: first", "by mx.a.test", "by mx.b.test", "\r\n.leading dot\r\n",
		"dkim=pass", "header.d=a.test", "spf=pass", "dmarc=pass"} {
		if !strings.Contains(got, want) {
			t.Errorf("message at B lacks %q:\n%s", want, got)
		}
	}
	testenv.WaitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, p.a) == 0 })
}

func TestQueueDefersThenDelivers(t *testing.T) {
	t.Parallel()
	p := newPair(t, nil)
	p.stopB()
	p.submit(t, []string{"bob@b.test"}, "while B is down")
	var e store.QueueEntry
	testenv.WaitFor(t, 20*time.Second, "a failed attempt", func() bool {
		q, _ := p.a.Store.QueueEntries(context.Background(), store.QueueFilter{})
		if len(q) == 1 && q[0].Attempts >= 1 {
			e = q[0]
			return true
		}
		return false
	})
	if e.LastError == "" || !e.NextAttempt.Equal(p.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("deferred entry: last error %q, next attempt %v (now %v)", e.LastError, e.NextAttempt, p.clock.Now())
	}
	// `kantorpos queue list` shows it with its last error and next attempt.
	list, _ := p.a.Server.Ops.QueueList(context.Background(), "", 0)
	if len(list) != 1 || list[0].LastError != e.LastError {
		t.Fatalf("queue list = %+v", list)
	}
	p.startB(t)
	p.advance(10 * time.Minute) // not due yet
	time.Sleep(50 * time.Millisecond)
	if q, _ := p.a.Store.QueueEntry(context.Background(), e.ID); q.Attempts != 1 {
		t.Fatalf("retried before the 15-minute interval: %d attempts", q.Attempts)
	}
	p.advance(5 * time.Minute)
	waitInbox(t, p.b, p.bob, 1)
	testenv.WaitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, p.a) == 0 })
}

func TestQueueBouncesPermanentFailure(t *testing.T) {
	t.Parallel()
	p := newPair(t, nil)
	p.submit(t, []string{"nobody@b.test"}, "to nobody")
	dsnMsg := waitInbox(t, p.a, p.amy, 1)[0]
	for _, want := range []string{"From: Mail Delivery System <MAILER-DAEMON@mx.a.test>", "multipart/report",
		"report-type=delivery-status", "Final-Recipient: rfc822; nobody@b.test", "Action: failed", "Status: 5.1.1",
		"Diagnostic-Code: smtp; 550", "Remote-MTA: dns; mx.b.test", "Subject: to nobody", "Return-Path: <>"} {
		if !strings.Contains(dsnMsg, want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsnMsg)
		}
	}
	testenv.WaitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, p.a) == 0 })
}

func TestQueueDelayNoticeThenBounceAfterFiveDays(t *testing.T) {
	t.Parallel()
	p := newPair(t, nil)
	p.stopB()
	p.submit(t, []string{"bob@b.test"}, "never arrives")
	testenv.WaitFor(t, 20*time.Second, "the first attempt", func() bool {
		q, _ := p.a.Store.QueueEntries(context.Background(), store.QueueFilter{})
		return len(q) == 1 && q[0].Attempts == 1
	})
	p.advance(4*time.Hour + time.Minute)
	delay := waitInbox(t, p.a, p.amy, 1)[0]
	for _, want := range []string{"Action: delayed", "Will-Retry-Until:", "Final-Recipient: rfc822; bob@b.test"} {
		if !strings.Contains(delay, want) {
			t.Errorf("delay notice lacks %q:\n%s", want, delay)
		}
	}
	p.advance(5 * 24 * time.Hour)
	msgs := waitInbox(t, p.a, p.amy, 2)
	bounce := msgs[1]
	for _, want := range []string{"Action: failed", "Status: 4.4.7", "bob@b.test"} {
		if !strings.Contains(bounce, want) {
			t.Errorf("final bounce lacks %q:\n%s", want, bounce)
		}
	}
	testenv.WaitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, p.a) == 0 })
	if n := len(inboxContents(t, p.a, p.amy.ID)); n != 2 {
		t.Fatalf("amy has %d reports, want exactly one delay notice and one bounce", n)
	}
}

// Mail passes two relays: A sends everything through smarthost C (AUTH over
// implicit TLS), and C delivers it to B's MX.
func TestQueueThroughSmarthost(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.New(t)
	clk := clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	b := testenv.Start(t, testenv.Options{Hostname: "mx.b.test", DNS: dnsSrv, Clock: clk})
	bob := b.AddUser(t, "bob@b.test", "bob's password")
	_, bPort, _ := net.SplitHostPort(b.Addr["smtp"])
	port, _ := strconv.Atoi(bPort)
	c := testenv.Start(t, testenv.Options{Hostname: "relay.c.test", DNS: dnsSrv, Clock: clk,
		Configure: func(cfg *config.Config) { cfg.Queue.Port = port }})
	c.AddUser(t, "relay@c.test", "relay password")
	cHost, cPort, _ := net.SplitHostPort(c.Addr["submissions"])
	cp, _ := strconv.Atoi(cPort)
	a := testenv.Start(t, testenv.Options{Hostname: "mx.a.test", DNS: dnsSrv, Clock: clk,
		Configure: func(cfg *config.Config) {
			cfg.Relay = config.Relay{Host: cHost, Port: cp, Mode: "tls", Username: "relay@c.test", Password: "relay password", SkipVerify: true}
		}})
	a.AddUser(t, "amy@a.test", "amy's password")
	dnsSrv.Add(t, "b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.1")
	// C lets its relay account send as amy@a.test.
	if err := c.Server.Ops.AddDomain(context.Background(), "a.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Server.Ops.AddAlias(context.Background(), "amy@a.test", "relay@c.test"); err != nil {
		t.Fatal(err)
	}
	submit(t, a, "amy@a.test", "amy's password", "amy@a.test", []string{"bob@b.test"},
		"From: amy@a.test\r\nTo: bob@b.test\r\nSubject: via relay\r\n\r\nhi\r\n")
	got := waitInbox(t, b, bob, 1)[0]
	if strings.Count(got, "Received: ") < 3 || !strings.Contains(got, "by relay.c.test") || !strings.Contains(got, "by mx.a.test") {
		t.Fatalf("message did not pass both relays:\n%s", got)
	}
}

// A crash after the runner leased an entry but before it recorded the
// result: the restarted server takes the entry back at once and delivers.
func TestQueueCrashBetweenLeaseAndResult(t *testing.T) {
	t.Parallel()
	p := newPair(t, nil)
	p.stopB()
	p.submit(t, []string{"bob@b.test"}, "survives a crash")
	testenv.WaitFor(t, 20*time.Second, "the first attempt", func() bool {
		q, _ := p.a.Store.QueueEntries(context.Background(), store.QueueFilter{})
		return len(q) == 1 && q[0].Attempts == 1
	})
	aData, aAddr := p.a.DataDir, p.a.Addr
	p.clock.Advance(15 * time.Minute)
	// What a runner does just before sending: lease the entry (30 minutes).
	leased, err := p.a.Store.LeaseQueue(context.Background(), p.clock.Now(), "mx.a.test", 30*time.Minute, 10)
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v %v", leased, err)
	}
	p.a.Stop() // the crash: the lease is never released
	p.startB(t)
	port, _ := strconv.Atoi(p.bPort)
	p.a = testenv.Start(t, testenv.Options{Hostname: "mx.a.test", DNS: p.dns, Clock: p.clock, DataDir: aData,
		Configure: func(c *config.Config) {
			c.Queue.Port = port
			c.SMTP.Listen = aAddr["smtp"]
		}})
	waitInbox(t, p.b, p.bob, 1)
}

// A program we did not write receives our queued mail: Python's aiosmtpd.
func TestQueueToAiosmtpd(t *testing.T) {
	t.Parallel()
	py := testenv.Python(t, "aiosmtpd", "python3-aiosmtpd")
	script, _ := filepath.Abs("../delivery/testdata/aiosmtpd_sink.py")
	outdir := t.TempDir()
	cmd := exec.Command(py, script, outdir)
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(strings.TrimSpace(line))
	dnsSrv := dnstest.New(t)
	a := testenv.Start(t, testenv.Options{Hostname: "mx.a.test", DNS: dnsSrv, Configure: func(c *config.Config) { c.Queue.Port = port }})
	a.AddUser(t, "amy@a.test", "amy's password")
	dnsSrv.Add(t, "ext.test. MX 10 mx.ext.test.", "mx.ext.test. A 127.0.0.1")
	body := "From: amy@a.test\r\nTo: x@ext.test\r\nSubject: to aiosmtpd\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n"
	submit(t, a, "amy@a.test", "amy's password", "amy@a.test", []string{"x@ext.test"}, body)
	var msg struct {
		MailFrom string   `json:"mail_from"`
		RcptTos  []string `json:"rcpt_tos"`
		Content  string   `json:"content"`
	}
	testenv.WaitFor(t, 20*time.Second, "aiosmtpd to store the message", func() bool {
		b, err := os.ReadFile(filepath.Join(outdir, "msg1.json"))
		return err == nil && json.Unmarshal(b, &msg) == nil
	})
	content, _ := base64.StdEncoding.DecodeString(msg.Content)
	if msg.MailFrom != "amy@a.test" || len(msg.RcptTos) != 1 || msg.RcptTos[0] != "x@ext.test" {
		t.Fatalf("envelope = %+v", msg)
	}
	if !strings.Contains(string(content), "DKIM-Signature:") || !strings.HasSuffix(string(content), "\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n") ||
		strings.Contains(strings.ReplaceAll(string(content), "\r\n", ""), "\n") {
		t.Fatalf("content at aiosmtpd:\n%q", content)
	}
}

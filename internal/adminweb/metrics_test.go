package adminweb_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// startPair starts our server (the fixture, domain example.test) and a
// peer, b.test with bob, that our queue delivers to; the DNS for b.test is
// published only when publish is true (else its lookups fail temporarily).
func startPair(t *testing.T, publish bool) (*fixture, *testenv.Env) {
	t.Helper()
	d := dnstest.New(t)
	clk := clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	b := testenv.Start(t, testenv.Options{Hostname: "mx.b.test", DNS: d, Clock: clk})
	b.AddUser(t, "bob@b.test", "bob password 1")
	_, port, _ := net.SplitHostPort(b.Addr["smtp"])
	p, _ := strconv.Atoi(port)
	e := testenv.Start(t, testenv.Options{DNS: d, Clock: clk, Configure: func(c *config.Config) { c.Queue.Port = p }})
	f := fixtureFor(t, e)
	d.Add(t, "b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.1")
	if !publish {
		d.ServFail("b.test.", true)
	}
	return f, b
}

func smtpSend(t *testing.T, addr, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// value returns the value of the series of mf with the label name=value
// ("" = the only series).
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, lv string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range mf.GetMetric() {
		match := label == ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == lv {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, lv)
	return 0
}

func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	f, b := startPair(t, true)
	e := f.e
	// Mail in over SMTP, for a local account.
	smtpSend(t, e.Addr["smtp"], "x@ext.test", userAddr, "From: x@ext.test\r\nSubject: hi\r\n\r\nhello\r\n")
	// Mail out through the queue, delivered to the peer.
	id := queueMessage(t, e, userAddr, "bob@b.test")
	testenv.WaitFor(t, 20*time.Second, "delivery to b.test", func() bool {
		_, err := e.Server.Ops.QueueShow(context.Background(), id)
		return err != nil
	})
	// A failed IMAP login.
	ic, err := imapclient.DialTLS(e.Addr["imaps"], &imapclient.Options{TLSConfig: e.ClientTLS})
	if err != nil {
		t.Fatal(err)
	}
	if err := ic.Login(userAddr, "wrong password").Wait(); err == nil {
		t.Fatal("login with a wrong password worked")
	}
	ic.Close()
	// POP3 commands.
	pc, err := tls.Dial("tcp", e.Addr["pop3s"], e.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(pc)
	br.ReadString('\n')
	for _, cmd := range []string{"CAPA", "NOOP", "QUIT"} {
		io.WriteString(pc, cmd+"\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil || cmd != "CAPA" || line == ".\r\n" {
				break
			}
		}
	}
	pc.Close()
	// One entry waiting in the queue.
	f.e.DNS.ServFail("nowhere.test.", true)
	waitAttempts(t, e, queueMessage(t, e, userAddr, "x@nowhere.test"), 1)

	var mfs map[string]*dto.MetricFamily
	testenv.WaitFor(t, 20*time.Second, "counters", func() bool {
		mfs = scrape(t, f.base+"/metrics")
		v := func(name, l, lv string) float64 {
			for _, m := range mfs[name].GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == l && lp.GetValue() == lv {
						return m.GetCounter().GetValue() + m.GetGauge().GetValue()
					}
				}
			}
			return 0
		}
		return v("kantorpos_mail_events_total", "event", "deferred") >= 1 && v("kantorpos_commands_total", "proto", "pop3") >= 3 &&
			v("kantorpos_connections_active", "listener", "pop3s") == 0
	})
	checks := []struct {
		name, label, lv string
		min             float64
	}{
		{"kantorpos_connections_total", "listener", "smtp", 1},
		{"kantorpos_connections_total", "listener", "imaps", 1},
		{"kantorpos_connections_total", "listener", "pop3s", 1},
		{"kantorpos_connections_total", "listener", "admin", 1},
		{"kantorpos_connections_active", "listener", "admin", 1},
		{"kantorpos_commands_total", "proto", "pop3", 3},
		{"kantorpos_mail_events_total", "event", "received", 1},
		{"kantorpos_mail_events_total", "event", "delivered", 1},
		{"kantorpos_mail_events_total", "event", "deferred", 1},
		{"kantorpos_mail_events_total", "event", "bounced", 0},
		{"kantorpos_auth_failures_total", "proto", "imap", 1},
		{"kantorpos_delivery_latency_seconds", "", "", 1},
		{"kantorpos_store_write_duration_seconds", "", "", 1},
		{"kantorpos_queue_entries", "", "", 1},
		{"kantorpos_queue_deferred_entries", "", "", 1},
		{"kantorpos_queue_oldest_age_seconds", "", "", 0},
		{"go_goroutines", "", "", 1},
		{"process_cpu_seconds_total", "", "", 0},
	}
	for _, c := range checks {
		if got := value(t, mfs, c.name, c.label, c.lv); got < c.min {
			t.Errorf("%s{%s=%q} = %v, want at least %v", c.name, c.label, c.lv, got, c.min)
		}
	}
	// The peer's own registry counted what it received; registries are per server.
	if got := value(t, scrape(t, "http://"+b.Addr["admin"]+"/metrics"), "kantorpos_mail_events_total", "event", "received"); got != 1 {
		t.Errorf("peer received = %v", got)
	}
	// And the dashboard shows today's counters.
	var st struct{ Today map[string]int64 }
	f.tokenClient(t, f.token).json("GET", "/api/v1/status", nil, &st)
	if st.Today["received"] < 1 || st.Today["delivered"] < 1 {
		t.Errorf("today = %v", st.Today)
	}
}

package adminweb_test

import (
	"context"
	"net/textproto"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestMetricsCountEachEventOnce scripts a session and compares exact
// counts: one failed SMTP AUTH is one failure, for proto="smtp" only (it
// was counted twice, the second time as proto="unknown"), and five
// recipients refused for a full mailbox are five rejections (each was
// counted twice).
func TestMetricsCountEachEventOnce(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	e := f.e
	ctx := context.Background()

	c, err := smtp.DialTLS(e.Addr["submissions"], e.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", userAddr, "wrong password")); err == nil {
		t.Fatal("AUTH with a wrong password worked")
	}
	c.Close()

	if err := e.Server.Ops.SetQuota(ctx, userAddr, 100); err != nil {
		t.Fatal(err)
	}
	tc, err := textproto.Dial("tcp", e.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	cmd := func(line string, want int) {
		t.Helper()
		if line != "" {
			if err := tc.PrintfLine("%s", line); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := tc.ReadResponse(want); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	cmd("", 220)
	cmd("EHLO client.test", 250)
	cmd("MAIL FROM:<x@ext.test> SIZE=2000", 250)
	for range 5 {
		cmd("RCPT TO:<"+userAddr+">", 552)
	}
	cmd("QUIT", 221)

	mfs := scrape(t, f.base+"/metrics")
	for _, c := range []struct {
		name, label, lv string
		want            float64
	}{
		{"kantorpos_auth_failures_total", "proto", "smtp", 1},
		{"kantorpos_auth_failures_total", "proto", "imap", 0},
		{"kantorpos_mail_events_total", "event", "rejected", 5},
		{"kantorpos_mail_events_total", "event", "received", 0},
	} {
		if got := value(t, mfs, c.name, c.label, c.lv); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.lv, got, c.want)
		}
	}
	if n := len(mfs["kantorpos_auth_failures_total"].GetMetric()); n != 4 {
		t.Errorf("%d auth failure series, want smtp, imap, pop3 and http only", n)
	}
	var st struct{ Today map[string]int64 }
	f.tokenClient(t, f.token).json("GET", "/api/v1/status", nil, &st)
	if st.Today["rejected"] != 5 {
		t.Errorf("dashboard: today = %v, want 5 rejected", st.Today)
	}
}

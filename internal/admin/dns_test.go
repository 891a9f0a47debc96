package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/mailauth"
)

func TestDNSAndDKIM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOps(t)
	fc := clock.NewFake(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	o.Clock = fc
	o.NewDKIMKeys = GenerateDKIMKeys
	c := config.Default()
	c.Hostname = "mx.example.test"
	c.POP3.Listen = ""
	o.Published = PublishedFromConfig(c)
	if err := o.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	records, err := o.DNSRecords(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	text := mailauth.Format(records)
	for _, want := range []string{"example.test.", "MX", "10 mx.example.test.", "v=spf1", "_dmarc.example.test.",
		"._domainkey.example.test.", "_imaps._tcp.example.test.", "993", "_submission._tcp.example.test.", "587",
		"_pop3._tcp.example.test.", "autoconfig.example.test."} {
		if !strings.Contains(text, want) {
			t.Errorf("records lack %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "._domainkey."); n != 2 {
		t.Errorf("%d DKIM records, want 2 (ed25519 and RSA)", n)
	}

	// Publish everything in a loopback DNS: the check says OK for each record.
	dnsSrv := dnstest.New(t)
	for _, r := range records {
		switch r.Type {
		case "TXT":
			dnsSrv.SetTXT(r.Name, r.Value)
		default:
			dnsSrv.Add(t, r.Name+" 300 IN "+r.Type+" "+r.Value)
		}
	}
	o.Resolver = dnsSrv.Resolver()
	findings, err := o.CheckDNS(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		if f.Status != mailauth.StatusOK {
			t.Errorf("%s %s: %s (got %v) %s", f.Record.Type, f.Record.Name, f.Status, f.Got, f.Hint)
		}
	}
	dnsSrv.Remove("_dmarc.example.test")
	findings, _ = o.CheckDNS(ctx, "example.test")
	missing := 0
	for _, f := range findings {
		if f.Status == mailauth.StatusMissing {
			missing++
		}
	}
	if missing != 1 {
		t.Errorf("after removing DMARC: %d missing", missing)
	}

	// Rotation: 4 keys published; after the retire period a second rotation drops the first pair.
	if _, err := o.RotateDKIM(ctx, "example.test", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, _ := o.DKIMKeys(ctx, "example.test")
	if len(keys) != 4 {
		t.Fatalf("after rotation: %d keys", len(keys))
	}
	fc.Advance(30 * 24 * time.Hour)
	rot, err := o.RotateDKIM(ctx, "example.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = o.DKIMKeys(ctx, "example.test")
	if len(rot.Drop) != 2 || len(keys) != 4 {
		t.Fatalf("second rotation dropped %d, %d keys left", len(rot.Drop), len(keys))
	}
	if _, err := o.DNSRecords(ctx, "nope.test"); err == nil {
		t.Fatal("records for an unknown domain")
	}
}

package mailauth

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedKey is an ed25519 key derived from a constant seed, so that golden
// files are stable. Nothing else uses it.
func fixedKey(t testing.TB, selector string, seed byte, created time.Time, retired *time.Time) DKIMKey {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return DKIMKey{Domain: "example.test", Selector: selector, Algorithm: AlgEd25519, Created: created, Retired: retired,
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// recordKeys returns the keys of the example domain: an active ed25519 key,
// one retired recently (still published), one retired long ago (dropped),
// and an RSA key (random, so its p= is masked in golden files).
func recordKeys(t testing.TB) []DKIMKey {
	recently, longAgo := t0.Add(-24*time.Hour), t0.Add(-30*24*time.Hour)
	keys, err := GenerateKeys("example.test", t0)
	if err != nil {
		t.Fatal(err)
	}
	return []DKIMKey{
		fixedKey(t, "kp20261126e", 1, t0, nil),
		keys[1],
		fixedKey(t, "kp20261101e", 2, t0.Add(-25*24*time.Hour), &recently),
		fixedKey(t, "kp20261001e", 3, t0.Add(-60*24*time.Hour), &longAgo),
	}
}

func TestRecordsGolden(t *testing.T) {
	t.Parallel()
	keys := recordKeys(t)
	_, rsaValue, err := DNSRecord(keys[1])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		golden string
		p      RecordParams
	}{
		{"records-full.zone", RecordParams{
			Domain: "Example.TEST", Hostname: "mx.example.test.",
			IPs:  []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")},
			Keys: keys, Now: t0, RetireAfter: 7 * 24 * time.Hour,
			SubmissionPort: 2587, POP3Port: -1,
		}},
		{"records-minimal.zone", RecordParams{Domain: "example.test", Hostname: "example.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			rs, err := Records(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			got := Format(rs)
			// The RSA key is random: check its quoting, then mask it.
			rsaZone := quoteTXT(rsaValue)
			if tt.p.Keys != nil && !strings.Contains(got, rsaZone) {
				t.Errorf("RSA record missing or badly quoted:\n%s", got)
			}
			if strings.Count(rsaZone, `" "`) != len(rsaValue)/255 {
				t.Errorf("RSA value of %d bytes is split as %s", len(rsaValue), rsaZone)
			}
			got = strings.ReplaceAll(got, rsaZone, `"<rsa key record>"`)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Format(Records) differs from %s:\n%s", path, got)
			}
		})
	}
	for _, bad := range []RecordParams{{Domain: "", Hostname: "mx.test"}, {Domain: "x.test", Hostname: "[1.2.3.4]"}} {
		if _, err := Records(bad); err == nil {
			t.Errorf("Records(%+v) succeeded", bad)
		}
	}
}

func TestCheckRecords(t *testing.T) {
	t.Parallel()
	keys := recordKeys(t)
	params := RecordParams{
		Domain: "example.test", Hostname: "mx.example.test",
		IPs:  []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")},
		Keys: keys, Now: t0, RetireAfter: 7 * 24 * time.Hour, POP3Port: -1,
	}
	records, err := Records(params)
	if err != nil {
		t.Fatal(err)
	}
	// The zone file we tell administrators to publish.
	var good []string
	for _, line := range strings.Split(Format(records), "\n") {
		if line != "" && !strings.HasPrefix(line, ";") {
			good = append(good, line)
		}
	}
	otherKey := edKey(t, "example.test", "x")
	_, otherValue, _ := DNSRecord(otherKey)

	tests := []struct {
		name     string
		zone     []string
		servfail []string
		want     map[string]Status // "TYPE name" → status; others must be OK
	}{
		{name: "all published", zone: good, want: map[string]Status{}},
		{
			name: "some right, some missing, some wrong",
			zone: []string{
				"example.test. MX 10 mx.example.test.",
				"mx.example.test. A 192.0.2.25",
				// SPF differs from ours but authorizes both addresses: OK.
				`example.test. TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all"`,
				`mx.example.test. TXT "v=spf1 -all"`,
				`kp20261126e._domainkey.example.test. TXT "` + otherValue + `"`,
				`_submissions._tcp.example.test. SRV 0 1 465 mx.example.test.`,
				`_submission._tcp.example.test. SRV 10 1 2525 mx.example.test.`,
				`_imaps._tcp.example.test. SRV 0 1 993 mx.example.test.`,
				`_pop3._tcp.example.test. SRV 0 0 0 .`,
				`autoconfig.example.test. CNAME mx.example.test.`,
				`autodiscover.example.test. CNAME mail.elsewhere.test.`,
				`mail.elsewhere.test. A 198.51.100.1`,
			},
			want: map[string]Status{
				"AAAA mx.example.test":                    StatusMissing, // the name exists with an A only
				"TXT mx.example.test":                     StatusWrong,   // HELO SPF does not authorize us
				"TXT kp20261126e._domainkey.example.test": StatusWrong,   // key mismatch
				"TXT kp20261126r._domainkey.example.test": StatusMissing,
				"TXT kp20261101e._domainkey.example.test": StatusMissing,
				"TXT _dmarc.example.test":                 StatusMissing,
				"SRV _submission._tcp.example.test":       StatusWrong,
				"SRV _imap._tcp.example.test":             StatusMissing,
				"SRV _pop3s._tcp.example.test":            StatusMissing,
				"CNAME autodiscover.example.test":         StatusWrong,
			},
		},
		{
			name: "MX elsewhere, SPF not authorizing, two DMARC records",
			zone: append(without(good, "example.test.\tIN\tMX", "example.test.\tIN\tTXT"),
				"example.test. MX 10 mx.elsewhere.test.",
				"mx.elsewhere.test. A 198.51.100.1",
				`example.test. TXT "v=spf1 mx -all"`,
				`_dmarc.example.test. TXT "v=DMARC1; p=none"`,
			),
			want: map[string]Status{
				"MX example.test":         StatusWrong,
				"TXT example.test":        StatusWrong,
				"TXT _dmarc.example.test": StatusWrong,
			},
		},
		{
			name:     "SERVFAIL",
			zone:     good,
			servfail: []string{"_dmarc.example.test", "example.test"},
			want: map[string]Status{
				"MX example.test":         StatusError,
				"TXT example.test":        StatusError,
				"TXT _dmarc.example.test": StatusError,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := dnstest.New(t)
			s.Add(t, tt.zone...)
			for _, n := range tt.servfail {
				s.ServFail(n, true)
			}
			findings := CheckRecords(context.Background(), s.Resolver(), records)
			if len(findings) != len(records) {
				t.Fatalf("%d findings for %d records", len(findings), len(records))
			}
			for _, f := range findings {
				t.Logf("%-6s %-45s %-8s got=%q hint=%q", f.Record.Type, f.Record.Name, f.Status, f.Got, f.Hint)
				key := f.Record.Type + " " + f.Record.Name
				want, ok := tt.want[key]
				if !ok {
					want = StatusOK
				}
				if f.Status != want {
					t.Errorf("%s: %s (got %q, hint %q), want %s", key, f.Status, f.Got, f.Hint, want)
				}
				if f.Status != StatusOK && f.Hint == "" {
					t.Errorf("%s: %s without a hint", key, f.Status)
				}
			}
		})
	}
}

// without returns the zone lines that start with none of the prefixes.
func without(lines []string, prefixes ...string) []string {
	var out []string
	for _, l := range lines {
		keep := true
		for _, p := range prefixes {
			keep = keep && !strings.HasPrefix(l, p)
		}
		if keep {
			out = append(out, l)
		}
	}
	return out
}

package mailauth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

func TestCheckSPF(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	s.Add(t,
		`pass.test. TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`soft.test. TXT "v=spf1 ip4:127.0.0.1 ~all"`,
		`neutral.test. TXT "v=spf1 ?all"`,
		`mx.test. TXT "v=spf1 mx -all"`,
		`mx.test. MX 10 smtp.mx.test.`,
		`smtp.mx.test. A 127.0.0.3`,
		`v6.test. TXT "v=spf1 ip6:2001:db8::/32 -all"`,
		`helo.test. TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`other.test. TXT "not spf"`,
		`bad.test. TXT "v=spf1 ip4:300.1.1.1 -all"`,
		`two.test. TXT "v=spf1 -all"`,
		`two.test. TXT "v=spf1 +all"`,
	)
	// RFC 7208 4.6.4: more than 10 DNS-querying terms is a permerror.
	var inc []string
	for i := range 11 {
		inc = append(inc, fmt.Sprintf("include:i%d.many.test", i))
		s.Add(t, fmt.Sprintf(`i%d.many.test. TXT "v=spf1 ip4:10.0.0.1 -all"`, i))
	}
	s.Add(t, `many.test. TXT "v=spf1 `+strings.Join(inc, " ")+` -all"`)
	s.Add(t, `tmp.test. TXT "v=spf1 ip4:127.0.0.1 -all"`)
	s.ServFail("tmp.test", true)
	v := newVerifier(t, s)

	tests := []struct {
		name     string
		ip       string
		helo     string
		from     string
		want     authres.ResultValue
		heloWant authres.ResultValue
		mailFrom string
		domain   string
	}{
		{"pass", "127.0.0.1", "helo.test", "a@pass.test", authres.ResultPass, authres.ResultPass, "a@pass.test", "pass.test"},
		{"fail", "127.0.0.2", "helo.test", "a@pass.test", authres.ResultFail, authres.ResultFail, "a@pass.test", "pass.test"},
		{"softfail", "127.0.0.2", "", "a@soft.test", authres.ResultSoftFail, authres.ResultNone, "a@soft.test", "soft.test"},
		{"neutral", "127.0.0.2", "", "a@neutral.test", authres.ResultNeutral, authres.ResultNone, "a@neutral.test", "neutral.test"},
		{"mx pass", "127.0.0.3", "", "a@mx.test", authres.ResultPass, authres.ResultNone, "a@mx.test", "mx.test"},
		{"ipv6 pass", "2001:db8::25", "", "a@v6.test", authres.ResultPass, authres.ResultNone, "a@v6.test", "v6.test"},
		{"ipv4-mapped", "::ffff:127.0.0.1", "", "a@pass.test", authres.ResultPass, authres.ResultNone, "a@pass.test", "pass.test"},
		{"none: no record", "127.0.0.1", "", "a@nothing.test", authres.ResultNone, authres.ResultNone, "a@nothing.test", "nothing.test"},
		{"none: no spf text", "127.0.0.1", "", "a@other.test", authres.ResultNone, authres.ResultNone, "a@other.test", "other.test"},
		{"temperror: SERVFAIL", "127.0.0.1", "", "a@tmp.test", authres.ResultTempError, authres.ResultNone, "a@tmp.test", "tmp.test"},
		{"permerror: too many lookups", "127.0.0.1", "", "a@many.test", authres.ResultPermError, authres.ResultNone, "a@many.test", "many.test"},
		{"permerror: bad ip", "127.0.0.1", "", "a@bad.test", authres.ResultPermError, authres.ResultNone, "a@bad.test", "bad.test"},
		{"permerror: two records", "127.0.0.1", "", "a@two.test", authres.ResultPermError, authres.ResultNone, "a@two.test", "two.test"},
		{"null sender uses HELO", "127.0.0.1", "helo.test", "", authres.ResultPass, authres.ResultPass, "postmaster@helo.test", "helo.test"},
		{"null sender, HELO with final dot", "127.0.0.1", "helo.test.", "", authres.ResultPass, authres.ResultPass, "postmaster@helo.test", "helo.test"},
		{"null sender, literal HELO", "127.0.0.1", "[127.0.0.1]", "", authres.ResultNone, authres.ResultNone, "", ""},
		{"HELO fails, MAIL FROM passes", "127.0.0.3", "helo.test", "a@mx.test", authres.ResultPass, authres.ResultFail, "a@mx.test", "mx.test"},
		{"garbage MAIL FROM", "127.0.0.1", "", "not an address", authres.ResultNone, authres.ResultNone, "not an address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := v.CheckSPF(context.Background(), netip.MustParseAddr(tt.ip), tt.helo, tt.from)
			if r.Value != tt.want || r.HELOValue != tt.heloWant || r.MailFrom != tt.mailFrom || r.Domain != tt.domain {
				t.Errorf("got %+v; want value %s helo %s mailfrom %q domain %q", r, tt.want, tt.heloWant, tt.mailFrom, tt.domain)
			}
			if (r.Value == authres.ResultTempError || r.Value == authres.ResultPermError) && r.Reason == "" {
				t.Errorf("no reason for %s", r.Value)
			}
		})
	}
}

// TestCheckSPFTimeout: a resolver that never answers ends at the timeout
// with temperror, not a hang.
func TestCheckSPFTimeout(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	v := newVerifier(t, s)
	v.Resolver = hangingResolver{v.Resolver}
	v.Timeout = 200 * time.Millisecond
	r := v.CheckSPF(context.Background(), ip1, "", "a@pass.test")
	if r.Value != authres.ResultTempError {
		t.Fatalf("got %+v, want temperror", r)
	}
}

// TestHELOInAuthenticationResults (issue 19 item 12): whatever the client
// sent as HELO, smtp.helo in our field is printable ASCII, on its line,
// as in our Received field: a domain in A-labels, anything else with "?".
func TestHELOInAuthenticationResults(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	v := newVerifier(t, s)
	tests := []struct{ helo, want string }{
		{"client.test", "smtp.helo=client.test"},
		{"Client.TEST.", "smtp.helo=client.test"},
		{"bücher.test", "smtp.helo=xn--bcher-kva.test"},
		{"[127.0.0.1]", "smtp.helo=[127.0.0.1]"},
		{"evil\u202etset.lab", `smtp.helo="evil?tset.lab"`},
		{"a\u200bb.test", "smtp.helo=ab.test"}, // IDNA mapping drops U+200B
		{"x\x01y", `smtp.helo="x?y"`},
		{"x\r\nX-Injected: 1", `smtp.helo="x??X-Injected:?1"`},
		{`q"\;(<`, `smtp.helo="q?????"`},
	}
	for _, tt := range tests {
		res := verify(t, v, ConnInfo{IP: ip1, HELO: tt.helo, MailFrom: "a@example.test"}, basicMessage("a@example.test"))
		ar := res.AuthenticationResults
		for i := 0; i < len(ar); i++ {
			if c := ar[i]; (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' && c != '\t' {
				t.Errorf("HELO %q: byte %#x in %q", tt.helo, c, ar)
				break
			}
		}
		if strings.Count(ar, "\n") != strings.Count(ar, "\r\n\t")+1 || strings.Contains(ar, "X-Injected") && !strings.Contains(ar, "x??X-Injected") {
			t.Errorf("HELO %q: field broken: %q", tt.helo, ar)
		}
		if !strings.Contains(ar, tt.want) {
			t.Errorf("HELO %q: want %s in %q", tt.helo, tt.want, ar)
		}
	}
}

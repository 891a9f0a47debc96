package mailauth

import (
	"net/netip"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

func TestDMARC(t *testing.T) {
	t.Parallel()
	// Signing keys; each case publishes the ones it needs.
	keys := map[string]DKIMKey{}
	for _, d := range []string{"example.test", "sub.example.test", "other.test"} {
		keys[d] = edKey(t, d, "s1")
	}
	const spfExample = `example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`
	const spfSub = `mail.example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`
	const spfOther = `other.test. TXT "v=spf1 ip4:127.0.0.1 -all"`

	tests := []struct {
		name     string
		zone     []string
		servfail []string
		sign     []string // domains whose key signs the message
		from     []string // From fields (whole values)
		mailFrom string
		ip       string
		value    authres.ResultValue
		action   Action
		policy   dmarc.Policy
		at       string // PolicyDomain
	}{
		{
			name: "aligned via DKIM only",
			zone: []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			sign: []string{"example.test"}, from: []string{"a@example.test"},
			mailFrom: "bounce@other.test", ip: "127.0.0.9",
			value: authres.ResultPass, action: Accept, at: "example.test",
		},
		{
			name: "aligned via SPF only",
			zone: []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			sign: []string{"other.test"}, from: []string{"a@example.test"},
			mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultPass, action: Accept, at: "example.test",
		},
		{
			name: "p=reject, SPF and DKIM fail",
			zone: []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "passing but unaligned signature and SPF",
			zone: []string{spfOther, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			sign: []string{"other.test"}, from: []string{"a@example.test"},
			mailFrom: "a@other.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "p=quarantine",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=quarantine"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Quarantine, policy: dmarc.PolicyQuarantine, at: "example.test",
		},
		{
			name: "p=none",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=none"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Accept, policy: dmarc.PolicyNone, at: "example.test",
		},
		{
			name: "pct=0 turns reject into quarantine",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject; pct=0"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Quarantine, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "pct=0 turns quarantine into none",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=quarantine; pct=0"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Accept, policy: dmarc.PolicyQuarantine, at: "example.test",
		},
		{
			name: "pct=100 applies",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject; pct=100"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "subdomain: sp= of the organizational domain",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=none; sp=reject"`},
			from: []string{"a@sub.example.test"}, mailFrom: "a@sub.example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "subdomain: p= when sp= is absent",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=quarantine"`},
			from: []string{"a@deep.sub.example.test"}, mailFrom: "a@sub.example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Quarantine, policy: dmarc.PolicyQuarantine, at: "example.test",
		},
		{
			name: "subdomain with its own record: its p= wins over sp=",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=none; sp=none"`, `_dmarc.sub.example.test. TXT "v=DMARC1; p=reject"`},
			from: []string{"a@sub.example.test"}, mailFrom: "a@sub.example.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "sub.example.test",
		},
		{
			name: "relaxed SPF alignment: subdomain MAIL FROM",
			zone: []string{spfSub, `_dmarc.example.test. TXT "v=DMARC1; p=reject; aspf=r"`},
			from: []string{"a@example.test"}, mailFrom: "bounce@mail.example.test", ip: "127.0.0.1",
			value: authres.ResultPass, action: Accept, at: "example.test",
		},
		{
			name: "strict SPF alignment: subdomain MAIL FROM fails",
			zone: []string{spfSub, `_dmarc.example.test. TXT "v=DMARC1; p=reject; aspf=s"`},
			from: []string{"a@example.test"}, mailFrom: "bounce@mail.example.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "relaxed DKIM alignment: d= of a subdomain",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			sign: []string{"sub.example.test"}, from: []string{"a@example.test"},
			mailFrom: "a@other.test", ip: "127.0.0.9",
			value: authres.ResultPass, action: Accept, at: "example.test",
		},
		{
			name: "strict DKIM alignment: d= of a subdomain fails",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject; adkim=s"`},
			sign: []string{"sub.example.test"}, from: []string{"a@example.test"},
			mailFrom: "a@other.test", ip: "127.0.0.9",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name: "two From fields",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=none"`},
			sign: []string{"example.test"}, from: []string{"a@example.test", "a@example.test"},
			mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Reject,
		},
		{
			name: "no From field",
			sign: []string{"example.test"}, mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Reject,
		},
		{
			name: "From without a domain",
			from: []string{"undisclosed-recipients:;"}, mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Reject,
		},
		{
			name: "two author domains: the worst wins",
			zone: []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`, `_dmarc.other.test. TXT "v=DMARC1; p=reject"`},
			from: []string{"a@example.test, b@other.test"}, mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Reject, policy: dmarc.PolicyReject, at: "other.test",
		},
		{
			name: "no policy",
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultNone, action: Accept, at: "example.test",
		},
		{
			name: "several policies mean none",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject"`, `_dmarc.example.test. TXT "v=DMARC1; p=none"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultNone, action: Accept, at: "example.test",
		},
		{
			name: "malformed policy",
			zone: []string{`_dmarc.example.test. TXT "v=DMARC1; p=bounce"`},
			from: []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultPermError, action: Accept, at: "example.test",
		},
		{
			name:     "DMARC lookup SERVFAIL",
			zone:     []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			servfail: []string{"_dmarc.example.test"},
			from:     []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultTempError, action: TempFail, at: "example.test",
		},
		{
			name:     "DMARC lookup SERVFAIL but aligned pass",
			zone:     []string{`_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			servfail: []string{"_dmarc.example.test"},
			sign:     []string{"example.test"}, from: []string{"a@example.test"},
			mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultTempError, action: Accept, at: "example.test",
		},
		{
			name:     "aligned DKIM key lookup SERVFAIL",
			zone:     []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`},
			servfail: []string{"s1._domainkey.example.test"},
			sign:     []string{"example.test"}, from: []string{"a@example.test"},
			mailFrom: "a@example.test", ip: "127.0.0.9",
			value: authres.ResultTempError, action: TempFail, policy: dmarc.PolicyReject, at: "example.test",
		},
		{
			name:     "aligned SPF temperror",
			zone:     []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=quarantine"`},
			servfail: []string{"example.test"},
			from:     []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultTempError, action: TempFail, policy: dmarc.PolicyQuarantine, at: "example.test",
		},
		{
			name:     "temperror with p=none stays accept",
			zone:     []string{spfExample, `_dmarc.example.test. TXT "v=DMARC1; p=none"`},
			servfail: []string{"example.test"},
			from:     []string{"a@example.test"}, mailFrom: "a@example.test", ip: "127.0.0.1",
			value: authres.ResultFail, action: Accept, policy: dmarc.PolicyNone, at: "example.test",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := dnstest.New(t)
			s.Add(t, tt.zone...)
			var signers []DKIMKey
			for _, d := range tt.sign {
				publish(t, s, keys[d])
				signers = append(signers, keys[d])
			}
			for _, n := range tt.servfail {
				s.ServFail(n, true)
			}
			hdr := []string{"To: bob@ours.test", "Subject: test", "Date: Thu, 26 Nov 2026 10:00:00 +0000"}
			for _, f := range tt.from {
				hdr = append(hdr, "From: "+f)
			}
			msg := message("body\r\n", hdr...)
			for _, k := range signers {
				if len(tt.from) != 1 {
					msg = signAnyway(t, msg, k) // Sign refuses: another signer did
					continue
				}
				msg = sign(t, msg, k)
			}
			v := newVerifier(t, s)
			ip := netip.MustParseAddr(tt.ip)
			res := verify(t, v, ConnInfo{IP: ip, HELO: "client.test", MailFrom: tt.mailFrom}, msg)
			d := res.DMARC
			if d.Value != tt.value || res.Action != tt.action || d.Action != tt.action {
				t.Errorf("dmarc = %s (%s), action %s; want %s, %s", d.Value, d.Reason, res.Action, tt.value, tt.action)
			}
			if d.Policy != tt.policy || d.PolicyDomain != tt.at {
				t.Errorf("policy %q at %q, want %q at %q", d.Policy, d.PolicyDomain, tt.policy, tt.at)
			}
			if _, _, _, ok := res.Reply(); ok != (tt.action == Reject || tt.action == TempFail) {
				t.Errorf("Reply ok = %v for %s", ok, tt.action)
			}
		})
	}
}

func TestAligned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       dmarc.AlignmentMode
		auth, from string
		want       bool
	}{
		{dmarc.AlignmentStrict, "example.com", "Example.COM", true},
		{dmarc.AlignmentStrict, "mail.example.com", "example.com", false},
		{dmarc.AlignmentRelaxed, "mail.example.com", "example.com", true},
		{dmarc.AlignmentRelaxed, "a.example.co.uk", "b.example.co.uk", true},
		{dmarc.AlignmentRelaxed, "example.co.uk", "other.co.uk", false},
		{dmarc.AlignmentRelaxed, "co.uk", "example.co.uk", false},
		{dmarc.AlignmentRelaxed, "", "example.com", false},
		{dmarc.AlignmentRelaxed, "a.github.io", "b.github.io", false}, // private suffix
	}
	for _, tt := range tests {
		if got := aligned(tt.mode, tt.auth, tt.from); got != tt.want {
			t.Errorf("aligned(%s, %q, %q) = %v, want %v", tt.mode, tt.auth, tt.from, got, tt.want)
		}
	}
}

package mailauth

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

// TestSignVerify signs with both generated keys and checks the result with
// our Verifier through a loopback DNS server.
func TestSignVerify(t *testing.T) {
	t.Parallel()
	keys, err := GenerateKeys("Example.TEST", t0)
	if err != nil {
		t.Fatal(err)
	}
	s := dnstest.New(t)
	publish(t, s, keys...)
	s.Add(t, `example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`)
	v := newVerifier(t, s)

	msg := basicMessage("alice@example.test")
	signed := sign(t, msg, keys...)
	if n := strings.Count(signed, "DKIM-Signature:"); n != 2 {
		t.Fatalf("%d DKIM-Signature fields, want 2:\n%s", n, signed)
	}
	if !strings.Contains(signed, "h=From:From:To:") {
		t.Errorf("From is not oversigned:\n%s", signed)
	}
	tampered := strings.Replace(signed, "see you tomorrow", "send me money", 1)
	addedFrom := "From: mallory@example.test\r\n" + signed

	tests := []struct {
		name  string
		msg   string
		dkim  authres.ResultValue
		dmarc authres.ResultValue
		act   Action
	}{
		{"signed", signed, authres.ResultPass, authres.ResultPass, Accept},
		{"tampered body", tampered, authres.ResultFail, authres.ResultFail, Reject},
		{"second From added", addedFrom, authres.ResultFail, authres.ResultFail, Reject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// SPF fails (wrong IP), so only DKIM can make DMARC pass.
			res := verify(t, v, ConnInfo{IP: ip2, HELO: "mail.example.test", MailFrom: "alice@example.test"}, tt.msg)
			if len(res.DKIM) != 2 {
				t.Fatalf("%d DKIM results, want 2", len(res.DKIM))
			}
			algs := map[string]bool{}
			for _, d := range res.DKIM {
				if d.Value != tt.dkim || d.Domain != "example.test" {
					t.Errorf("dkim %s = %s (%s) d=%s, want %s", d.Algorithm, d.Value, d.Reason, d.Domain, tt.dkim)
				}
				algs[d.Algorithm] = true
			}
			if !algs["ed25519-sha256"] || !algs["rsa-sha256"] {
				t.Errorf("algorithms = %v", algs)
			}
			if res.SPF.Value != authres.ResultFail {
				t.Errorf("spf = %s", res.SPF.Value)
			}
			if res.DMARC.Value != tt.dmarc || res.Action != tt.act {
				t.Errorf("dmarc = %s, action %s; want %s, %s", res.DMARC.Value, res.Action, tt.dmarc, tt.act)
			}
		})
	}
}

// TestUnacceptableSignatures: an l= tag and rsa-sha1 (RFC 8301) never pass.
func TestUnacceptableSignatures(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	k := edKey(t, "example.test", "sel")
	publish(t, s, k)
	v := newVerifier(t, s)
	msg := basicMessage("alice@example.test")
	good := sign(t, msg, k)
	tests := []struct {
		name    string
		replace [2]string
		want    authres.ResultValue
	}{
		{"l= tag", [2]string{"a=ed25519-sha256;", "a=ed25519-sha256; l=10;"}, authres.ResultFail},
		{"rsa-sha1", [2]string{"a=ed25519-sha256;", "a=rsa-sha1;"}, authres.ResultPermError},
		{"unknown selector", [2]string{"s=sel;", "s=nope;"}, authres.ResultPermError},
		{"From not signed", [2]string{"h=From:From:", "h=X-Nothing:"}, authres.ResultPermError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := strings.Replace(good, tt.replace[0], tt.replace[1], 1)
			if m == good {
				t.Fatalf("%q not found in\n%s", tt.replace[0], good)
			}
			res := verify(t, v, ConnInfo{IP: ip1, HELO: "x.test"}, m)
			if len(res.DKIM) != 1 || res.DKIM[0].Value != tt.want {
				t.Fatalf("DKIM = %+v, want %s", res.DKIM, tt.want)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	k := edKey(t, "example.test", "sel")
	retired := k
	r := t0.Add(-time.Minute)
	retired.Retired = &r
	future := k
	future.Created = t0.Add(time.Hour)
	wrongAlg := k
	wrongAlg.Algorithm = AlgRSA
	tests := []struct {
		name string
		keys []DKIMKey
		msg  string
		want error
	}{
		{"no keys", nil, basicMessage("a@example.test"), ErrNoSigningKey},
		{"retired", []DKIMKey{retired}, basicMessage("a@example.test"), ErrNoSigningKey},
		{"not yet", []DKIMKey{future}, basicMessage("a@example.test"), ErrNoSigningKey},
		{"huge header", []DKIMKey{k}, "X: " + strings.Repeat("a", DefaultMaxHeaderBytes) + "\r\n\r\n", ErrHeaderTooLong},
		{"alg mismatch", []DKIMKey{wrongAlg}, basicMessage("a@example.test"), nil},
		// Issue 19 item 1: never sign a message with two From fields.
		{"two From", []DKIMKey{k}, "From: b@example.test\r\n" + basicMessage("a@example.test"), ErrNotOneFrom},
		{"From with space", []DKIMKey{k}, "From : b@example.test\r\n" + basicMessage("a@example.test"), ErrNotOneFrom},
		{"no From", []DKIMKey{k}, "Subject: x\r\n\r\nbody\r\n", ErrNotOneFrom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Sign(context.Background(), strings.NewReader(tt.msg), tt.keys, t0)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Sign(ctx, bytes.NewReader([]byte(basicMessage("a@example.test"))), []DKIMKey{k}, t0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// TestVerifyTimeout: a DNS server that never answers TXT queries costs
// Verify its Timeout, no more, and gives temperror and TempFail.
func TestVerifyTimeout(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	k := edKey(t, "example.test", "s1")
	v := newVerifier(t, s)
	v.Resolver = hangingResolver{v.Resolver}
	v.Timeout = 300 * time.Millisecond
	start := time.Now()
	res := verify(t, v, ConnInfo{IP: ip1, HELO: "client.test", MailFrom: "a@example.test"},
		sign(t, basicMessage("a@example.test"), k))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Verify took %v with a %v timeout", took, v.Timeout)
	}
	if res.SPF.Value != authres.ResultTempError || len(res.DKIM) != 1 || res.DKIM[0].Value != authres.ResultTempError ||
		res.DMARC.Value != authres.ResultTempError || res.Action != TempFail {
		t.Errorf("spf %s, dkim %+v, dmarc %s, action %s; want temperror everywhere and TempFail",
			res.SPF.Value, res.DKIM, res.DMARC.Value, res.Action)
	}
	code, enh, _, ok := res.Reply()
	if !ok || code != 451 || enh != [3]int{4, 7, 1} {
		t.Errorf("Reply = %d %v %v", code, enh, ok)
	}
}

// TestVerifyExpiredSignature: x= is checked against the Verifier's clock.
func TestVerifyExpiredSignature(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	k := edKey(t, "example.test", "s1")
	publish(t, s, k)
	priv, err := k.signer()
	if err != nil {
		t.Fatal(err)
	}
	msg := basicMessage("a@example.test")
	var signed bytes.Buffer
	err = dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: priv,
		Expiration: time.Now().Add(time.Hour), // go-msgauth checks x= against the wall clock
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		now  time.Time
		want authres.ResultValue
	}{
		{time.Now(), authres.ResultPass},
		{time.Now().Add(2 * time.Hour), authres.ResultPermError},
	} {
		v := newVerifier(t, s)
		v.Clock = clock.NewFake(tt.now)
		res := verify(t, v, ConnInfo{IP: ip1, HELO: "client.test"}, signed.String())
		if len(res.DKIM) != 1 || res.DKIM[0].Value != tt.want {
			t.Errorf("at %v: DKIM = %+v, want %s", tt.now, res.DKIM, tt.want)
		}
	}
}

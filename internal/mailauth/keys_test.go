package mailauth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestGenerateKeys(t *testing.T) {
	t.Parallel()
	keys, err := GenerateKeys("Bücher.Example", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	want := []struct{ sel, alg string }{{"kp20261126e", AlgEd25519}, {"kp20261126r", AlgRSA}}
	for i, k := range keys {
		if k.Domain != "xn--bcher-kva.example" || k.Selector != want[i].sel || k.Algorithm != want[i].alg ||
			!k.Created.Equal(t0) || k.Retired != nil || !k.Signs(t0) {
			t.Errorf("key %d = %+v", i, k)
		}
		name, value, err := DNSRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		if name != want[i].sel+"._domainkey.xn--bcher-kva.example" {
			t.Errorf("name = %q", name)
		}
		prefix := "v=DKIM1; k=" + want[i].alg + "; p="
		if !strings.HasPrefix(value, prefix) {
			t.Fatalf("value = %q", value)
		}
		p, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(value, prefix))
		if err != nil {
			t.Fatal(err)
		}
		switch k.Algorithm {
		case AlgEd25519:
			if len(p) != ed25519.PublicKeySize {
				t.Errorf("ed25519 p= has %d bytes", len(p))
			}
		case AlgRSA:
			pub, err := x509.ParsePKIXPublicKey(p)
			if rsaPub, ok := pub.(*rsa.PublicKey); err != nil || !ok || rsaPub.N.BitLen() != 2048 {
				t.Errorf("rsa p= = %T, %v", pub, err)
			}
		}
	}
	for _, bad := range []string{"", "[127.0.0.1]", "a..b", "-x.test"} {
		if _, err := GenerateKeys(bad, t0); err == nil {
			t.Errorf("GenerateKeys(%q) succeeded", bad)
		}
	}
	if _, _, err := DNSRecord(DKIMKey{Selector: "x", PrivateKeyPEM: []byte("junk")}); err == nil {
		t.Error("DNSRecord of junk succeeded")
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	const retireAfter = 7 * 24 * time.Hour
	day := 24 * time.Hour
	old := func(sel, alg string, created time.Time, retired *time.Time) DKIMKey {
		k := edKey(t, "example.test", sel)
		k.Algorithm, k.Created, k.Retired = alg, created, retired
		return k
	}
	longAgo := t0.Add(-30 * day)
	recently := t0.Add(-2 * day)
	keys := []DKIMKey{
		old("kp20261026e", AlgEd25519, t0.Add(-31*day), &longAgo),  // retired 30 days ago: dropped
		old("kp20261124e", AlgEd25519, t0.Add(-60*day), &recently), // retired 2 days ago: still published
		old("kp20261126e", AlgEd25519, t0.Add(-10*day), nil),       // active, and its selector is today's
	}
	rot, err := Rotate(keys, t0, retireAfter)
	if err != nil {
		t.Fatal(err)
	}
	sels := func(ks []DKIMKey) string {
		var s []string
		for _, k := range ks {
			s = append(s, k.Selector)
		}
		return strings.Join(s, " ")
	}
	if got := sels(rot.New); got != "kp20261126-2e kp20261126-2r" {
		t.Errorf("New = %s (today's selector is taken)", got)
	}
	if got := sels(rot.Retire); got != "kp20261126e" || !rot.Retire[0].Retired.Equal(t0) {
		t.Errorf("Retire = %s", got)
	}
	if got := sels(rot.Drop); got != "kp20261026e" {
		t.Errorf("Drop = %s", got)
	}
	if got := sels(rot.Keys); got != "kp20261126-2e kp20261126-2r kp20261124e kp20261126e" {
		t.Errorf("Keys = %s", got)
	}
	if keys[2].Retired != nil {
		t.Error("Rotate changed its input")
	}
	// Only the new keys sign; the retired one stays published for retireAfter.
	if got := sels(signingKeys(rot.Keys, t0)); got != "kp20261126-2e kp20261126-2r" {
		t.Errorf("signing keys = %s", got)
	}
	retired := rot.Retire[0]
	if !retired.Published(t0.Add(retireAfter-time.Second), retireAfter) || retired.Published(t0.Add(retireAfter), retireAfter) {
		t.Error("retired key publication period is wrong")
	}

	if _, err := Rotate(nil, t0, retireAfter); err == nil {
		t.Error("Rotate(nil) succeeded")
	}
	mixed := []DKIMKey{keys[2], old("x", AlgEd25519, t0, nil)}
	mixed[1].Domain = "other.test"
	if _, err := Rotate(mixed, t0, retireAfter); err == nil {
		t.Error("Rotate of two domains succeeded")
	}
}

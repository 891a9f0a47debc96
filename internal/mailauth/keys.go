package mailauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// DKIM key algorithms.
const (
	AlgEd25519 = "ed25519" // RFC 8463
	AlgRSA     = "rsa"     // RFC 6376, 2048 bits (RFC 8301 3.2)
)

// rsaBits is the size of the RSA keys we generate. RFC 8301 3.2: signers
// MUST use at least 1024 bits and SHOULD use at least 2048.
const rsaBits = 2048

// DKIMKey is one DKIM signing key of a domain. The store persists it as is
// (its own identical struct; the wiring converts).
//
// Life cycle (see Rotate):
//   - signing: Created <= now and (Retired == nil or now < *Retired);
//   - published in DNS: from creation until *Retired + retireAfter, so that
//     messages signed just before a rotation still verify while in transit;
//   - dropped: after *Retired + retireAfter (Rotation.Drop).
//
// A key whose Created lies in the future is published but does not sign yet:
// the wiring may use that to put a new key in DNS before it is used.
type DKIMKey struct {
	Domain        string // lower-case A-labels
	Selector      string
	Algorithm     string // AlgEd25519 or AlgRSA
	PrivateKeyPEM []byte // PKCS #8, "PRIVATE KEY"
	Created       time.Time
	Retired       *time.Time
}

// Signs reports whether k is used for signing at now.
func (k DKIMKey) Signs(now time.Time) bool {
	return !k.Created.After(now) && (k.Retired == nil || now.Before(*k.Retired))
}

// Published reports whether k's public key must still be in DNS at now.
func (k DKIMKey) Published(now time.Time, retireAfter time.Duration) bool {
	return k.Retired == nil || now.Before(k.Retired.Add(retireAfter))
}

// GenerateKeys makes one ed25519 and one RSA-2048 key for domain. Selectors
// are derived from the date and the algorithm ("kp20261126e", "kp20261126r").
// Rotate makes them unique against existing keys.
func GenerateKeys(domain string, now time.Time) ([]DKIMKey, error) {
	return generateKeys(domain, now, nil)
}

func generateKeys(domain string, now time.Time, taken map[string]bool) ([]DKIMKey, error) {
	d, err := mailaddr.ParseDomain(domain)
	if err != nil || strings.HasPrefix(d, "[") {
		return nil, fmt.Errorf("mailauth: generate keys: bad domain %q", domain)
	}
	base := "kp" + now.UTC().Format("20060102")
	// Two rotations on one day get "kp20261126-2e", "kp20261126-3e"...
	for n := 1; ; n++ {
		b := base
		if n > 1 {
			b += "-" + strconv.Itoa(n)
		}
		if !taken[b+"e"] && !taken[b+"r"] {
			base = b
			break
		}
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mailauth: generate ed25519 key: %w", err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("mailauth: generate rsa key: %w", err)
	}
	var keys []DKIMKey
	for _, k := range []struct {
		alg  string
		priv crypto.Signer
	}{{AlgEd25519, edPriv}, {AlgRSA, rsaPriv}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, fmt.Errorf("mailauth: encode %s key: %w", k.alg, err)
		}
		keys = append(keys, DKIMKey{
			Domain:        d,
			Selector:      base + k.alg[:1],
			Algorithm:     k.alg,
			PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			Created:       now,
		})
	}
	return keys, nil
}

// signer decodes the private key and checks it against Algorithm.
func (k DKIMKey) signer() (crypto.Signer, error) {
	block, _ := pem.Decode(k.PrivateKeyPEM)
	if block == nil {
		return nil, fmt.Errorf("mailauth: key %s: no PEM block", k.Selector)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("mailauth: key %s: %w", k.Selector, err)
	}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		if k.Algorithm == AlgEd25519 {
			return p, nil
		}
	case *rsa.PrivateKey:
		if k.Algorithm == AlgRSA {
			if p.N.BitLen() < 1024 {
				return nil, fmt.Errorf("mailauth: key %s: rsa key too short (RFC 8301)", k.Selector)
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("mailauth: key %s: private key does not match algorithm %q", k.Selector, k.Algorithm)
}

// DNSRecord returns the TXT record that publishes k's public key (RFC 6376
// 3.6.1, RFC 8463 4): name "<selector>._domainkey.<domain>" (no final dot)
// and value "v=DKIM1; k=ed25519; p=..." or "v=DKIM1; k=rsa; p=...".
func DNSRecord(k DKIMKey) (name, value string, err error) {
	s, err := k.signer()
	if err != nil {
		return "", "", err
	}
	var p []byte
	switch pub := s.Public().(type) {
	case ed25519.PublicKey:
		p = pub // RFC 8463 4: the raw 32-byte key
	default:
		if p, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return "", "", fmt.Errorf("mailauth: key %s: %w", k.Selector, err)
		}
	}
	return k.Selector + "._domainkey." + k.Domain,
		"v=DKIM1; k=" + k.Algorithm + "; p=" + base64.StdEncoding.EncodeToString(p), nil
}

// Rotation is the outcome of Rotate. The caller stores New, sets Retired on
// the keys in Retire, and deletes the keys in Drop (from the store and DNS).
type Rotation struct {
	New    []DKIMKey // the fresh ed25519 and RSA keys; they sign from now on
	Retire []DKIMKey // keys that signed until now, with Retired set to now
	Drop   []DKIMKey // keys retired more than retireAfter ago
	Keys   []DKIMKey // the resulting set: New, then every key still published
}

// Rotate replaces the signing keys of one domain.
//
// Policy: the new pair signs at once and every key that was signing gets
// Retired = now. A retired key stays published in DNS for retireAfter (a
// few days is enough: it covers messages still in queues and re-checked by
// receivers), then goes to Drop. Because the new keys sign immediately,
// publish their records (Records/CheckRecords) before storing the
// rotation; a message signed with a key that is not yet in DNS gets
// dkim=permerror at the receiver, and DMARC then rests on SPF alone.
func Rotate(keys []DKIMKey, now time.Time, retireAfter time.Duration) (Rotation, error) {
	if len(keys) == 0 {
		return Rotation{}, errors.New("mailauth: rotate: no keys (use GenerateKeys)")
	}
	domain := keys[0].Domain
	taken := map[string]bool{}
	for _, k := range keys {
		if k.Domain != domain {
			return Rotation{}, fmt.Errorf("mailauth: rotate: keys of two domains (%s, %s)", domain, k.Domain)
		}
		taken[k.Selector] = true
	}
	fresh, err := generateKeys(domain, now, taken)
	if err != nil {
		return Rotation{}, err
	}
	rot := Rotation{New: fresh, Keys: append([]DKIMKey(nil), fresh...)}
	for _, k := range keys {
		if k.Retired == nil || now.Before(*k.Retired) {
			t := now
			k.Retired = &t
			rot.Retire = append(rot.Retire, k)
		}
		if k.Published(now, retireAfter) {
			rot.Keys = append(rot.Keys, k)
		} else {
			rot.Drop = append(rot.Drop, k)
		}
	}
	return rot, nil
}

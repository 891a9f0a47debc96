package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

const ourHost = "mx.ours.test"

// testLogger writes the package's log lines into the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newVerifier(t testing.TB, s *dnstest.Server) *Verifier {
	return &Verifier{
		Resolver: s.Resolver(),
		Hostname: ourHost,
		Timeout:  10 * time.Second,
		Log:      testLogger(t),
	}
}

// edKey makes a fast ed25519-only key for tests that do not need RSA.
func edKey(t testing.TB, domain, selector string) DKIMKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return DKIMKey{
		Domain: domain, Selector: selector, Algorithm: AlgEd25519, Created: t0.Add(-time.Hour),
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
}

// publish adds the DNS records of keys to s.
func publish(t testing.TB, s *dnstest.Server, keys ...DKIMKey) {
	t.Helper()
	for _, k := range keys {
		name, value, err := DNSRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTXT(name, value)
	}
}

// message builds a CRLF message from header lines and a body.
func message(body string, header ...string) string {
	return strings.Join(header, "\r\n") + "\r\n\r\n" + body
}

func basicMessage(from string) string {
	return message("Hello Bob,\r\n\r\nsee you tomorrow.\r\n",
		"From: Alice <"+from+">",
		"To: bob@ours.test",
		"Subject: lunch",
		"Date: Thu, 26 Nov 2026 10:00:00 +0000",
		"Message-ID: <1@example.test>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
	)
}

// sign returns msg with DKIM signatures of keys prepended.
func sign(t testing.TB, msg string, keys ...DKIMKey) string {
	t.Helper()
	h, err := Sign(context.Background(), strings.NewReader(msg), keys, t0)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return string(h) + msg
}

// signAnyway signs like Sign, with go-msgauth directly: for messages that
// Sign refuses (several From fields) but another signer may have signed.
func signAnyway(t testing.TB, msg string, k DKIMKey) string {
	t.Helper()
	priv, err := k.signer()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: priv,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: signedHeaders(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func verify(t testing.TB, v *Verifier, conn ConnInfo, msg string) *Result {
	t.Helper()
	res, err := v.Verify(context.Background(), conn, bytes.NewReader([]byte(msg)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	t.Logf("%s", res.AuthenticationResults)
	return res
}

var (
	ip1 = netip.MustParseAddr("127.0.0.1")
	ip2 = netip.MustParseAddr("127.0.0.2")
)

// hangingResolver answers TXT queries only when the context ends.
type hangingResolver struct{ dns.Resolver }

func (hangingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	<-ctx.Done()
	return nil, &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTimeout: true}
}

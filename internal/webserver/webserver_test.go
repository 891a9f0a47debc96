package webserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"

	"github.com/kantorpos/kantorpos/internal/acmecert"
	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// fakeACME answers tls-alpn-01 for one name with a certificate of its own
// and http-01 for one token.
type fakeACME struct{ cert *tls.Certificate }

func (f fakeACME) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == acmecert.HTTPChallengePrefix+"tok" {
		io.WriteString(w, "tok.keyauth")
		return
	}
	http.NotFound(w, r)
}

func (f fakeACME) ChallengeCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if h.ServerName == "mx.example.test" {
		return f.cert, nil
	}
	return nil, errors.New("no challenge")
}

func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func TestHTTPSListener(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS, err := tlsconf.TestConfig(tlsconf.ProtoHTTP)
	if err != nil {
		t.Fatal(err)
	}
	chalPEM, chalKey, _ := tlsconf.SelfSigned([]string{"challenge.invalid"}, time.Now().Add(time.Hour))
	chal, _ := tls.X509KeyPair(chalPEM, chalKey)
	s := New(Config{TLSConfig: srvTLS, ACME: fakeACME{&chal},
		Published: func() admin.Published {
			return admin.Published{Hostname: "mx.example.test", IMAPS: 993, Submissions: 465}
		}})
	addr := serve(t, s)

	// A browser: HTTP/2 over TLS 1.2+, the normal certificate, the index.
	tr := &http.Transport{TLSClientConfig: cliTLS.Clone(), ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || !strings.Contains(string(body), "<td>993</td>") || strings.Contains(string(body), "<td>143</td>") {
		t.Errorf("index over %s: %s", resp.Proto, body)
	}

	// The validation handshake (only acme-tls/1) gets the challenge
	// certificate; for a name without a challenge the handshake fails.
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "mx.example.test", NextProtos: []string{acmecert.ALPNProto}, InsecureSkipVerify: true}) //nolint:gosec
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ConnectionState()
	c.Close()
	if cs.NegotiatedProtocol != acmecert.ALPNProto || cs.PeerCertificates[0].DNSNames[0] != "challenge.invalid" {
		t.Errorf("challenge handshake: %q %v", cs.NegotiatedProtocol, cs.PeerCertificates[0].DNSNames)
	}
	if _, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "other.test", NextProtos: []string{acmecert.ALPNProto}, InsecureSkipVerify: true}); err == nil { //nolint:gosec
		t.Error("challenge handshake for a name without a challenge succeeded")
	}
	// A foreign protocol (ALPACA) is refused.
	if _, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", NextProtos: []string{"smtp"}, RootCAs: cliTLS.RootCAs}); err == nil {
		t.Error("smtp ALPN accepted on the HTTPS listener")
	}
}

func TestPlainListener(t *testing.T) {
	t.Parallel()
	var port atomic.Int32
	port.Store(443)
	s := New(Config{ACME: fakeACME{}, HTTPSPort: func() int { return int(port.Load()) },
		Published: func() admin.Published { return admin.Published{Hostname: "mx.example.test"} }})
	addr := serve(t, s)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, host, path string) (int, string, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	for _, tt := range []struct {
		method, host, path string
		code               int
		location, body     string
	}{
		{"GET", "mx.example.test", "/a?b=c", 301, "https://mx.example.test/a?b=c", ""},
		{"GET", "mx.example.test:80", "/", 301, "https://mx.example.test/", ""},
		// Issue 19 item 8: the redirect names the configured host, never
		// the Host the client sent.
		{"GET", "evil.test", "/a?b=c", 301, "https://mx.example.test/a?b=c", ""},
		{"GET", "evil.test:8443", "/", 301, "https://mx.example.test/", ""},
		{"GET", "[2001:db8::1]:80", "/", 301, "https://mx.example.test/", ""},
		{"POST", "evil.test", "/autodiscover/autodiscover.xml", 308, "https://mx.example.test/autodiscover/autodiscover.xml", ""},
		{"PUT", "mx.example.test", "/x", 308, "https://mx.example.test/x", ""},
		{"GET", "mx.example.test", acmecert.HTTPChallengePrefix + "tok", 200, "", "tok.keyauth"},
		{"GET", "mx.example.test", acmecert.HTTPChallengePrefix + "nope", 404, "", ""},
	} {
		code, loc, body := do(tt.method, tt.host, tt.path)
		if code != tt.code || loc != tt.location || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s%s: %d %q %q", tt.method, tt.host, tt.path, code, loc, body)
		}
	}
	// Without an HTTPS listener, nothing is redirected.
	port.Store(0)
	if code, _, body := do("GET", "mx.example.test", "/"); code != 200 || !strings.Contains(body, "mx.example.test") {
		t.Errorf("index without https: %d %s", code, body)
	}
}

// TestConnectionLimits: a third connection from one address is closed at
// once while two are open; when one closes, a new one is served.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	addr := serve(t, New(Config{MaxConnsPerIP: 2, MaxConns: 100}))
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// A request on a held connection proves both were accepted (and counted).
	get := func(c net.Conn) (string, error) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /none HTTP/1.1\r\nHost: mx.example.test\r\n\r\n"); err != nil {
			return "", err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		return string(buf[:n]), err
	}
	if resp, err := get(held[1]); err != nil || !strings.HasPrefix(resp, "HTTP/1.1 ") {
		t.Fatalf("second connection: %q, %v", resp, err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp, err := get(c); err == nil && resp != "" {
		t.Fatalf("third connection from one address was served: %q", resp)
	}
	held[0].Close()
	// The slot is released once the server notices the close.
	testutil.WaitFor(t, 5*time.Second, "a connection served after one closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		resp, err := get(c)
		return err == nil && strings.HasPrefix(resp, "HTTP/1.1 ")
	})
}

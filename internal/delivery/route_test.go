package delivery

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/kantorpos/kantorpos/internal/dns"
)

// TestSmarthost covers routes: implicit TLS and STARTTLS with AUTH, and the
// refusals (wrong password, no TLS offered, untrusted certificate).
func TestSmarthost(t *testing.T) {
	t.Parallel()
	creds := &[2]string{"relayuser", "s3cret"}
	tests := []struct {
		name       string
		rc         recvConfig
		route      Route
		otherCA    bool // trust a different CA than the receiver's
		status     Status
		enhanced   string
		wantAuth   bool // the receiver saw AUTH succeed
		noAuthSent bool // "AUTH" must not be on the wire
	}{
		{name: "implicit TLS with AUTH", rc: recvConfig{implicitTLS: true, auth: creds},
			route:  Route{Host: "smarthost.test", Mode: ModeTLS, Username: "relayuser", Password: "s3cret"},
			status: Delivered, enhanced: "2.0.0", wantAuth: true},
		{name: "STARTTLS with AUTH", rc: recvConfig{startTLS: true, auth: creds},
			route:  Route{Host: "smarthost.test", Mode: ModeSTARTTLS, Username: "relayuser", Password: "s3cret"},
			status: Delivered, enhanced: "2.0.0", wantAuth: true},
		{name: "STARTTLS route by IP address", rc: recvConfig{startTLS: true, auth: creds},
			route:  Route{Host: "127.0.0.1", Mode: ModeSTARTTLS, Username: "relayuser", Password: "s3cret"},
			status: Delivered, enhanced: "2.0.0", wantAuth: true},
		{name: "plain route without AUTH", rc: recvConfig{},
			route:  Route{Host: "smarthost.test", Mode: ModePlain},
			status: Delivered, enhanced: "2.0.0"},
		{name: "wrong password is temporary", rc: recvConfig{implicitTLS: true, auth: creds},
			route:  Route{Host: "smarthost.test", Mode: ModeTLS, Username: "relayuser", Password: "wrong"},
			status: TempFail, enhanced: "4.7.8"},
		{name: "credentials but no STARTTLS offered", rc: recvConfig{auth: creds},
			route:  Route{Host: "smarthost.test", Mode: ModeSTARTTLS, Username: "relayuser", Password: "s3cret"},
			status: TempFail, enhanced: "4.7.10", noAuthSent: true},
		{name: "RequireTLS without STARTTLS offered", rc: recvConfig{},
			route:  Route{Host: "smarthost.test", Mode: ModeSTARTTLS, RequireTLS: true},
			status: TempFail, enhanced: "4.7.10"},
		{name: "untrusted certificate", rc: recvConfig{implicitTLS: true, auth: creds}, otherCA: true,
			route:  Route{Host: "smarthost.test", Mode: ModeTLS, Username: "relayuser", Password: "s3cret"},
			status: TempFail, enhanced: "4.7.0", noAuthSent: true},
		{name: "untrusted certificate on STARTTLS is not retried in plaintext", rc: recvConfig{startTLS: true, auth: creds}, otherCA: true,
			route:  Route{Host: "smarthost.test", Mode: ModeSTARTTLS, Username: "relayuser", Password: "s3cret"},
			status: TempFail, enhanced: "4.7.0", noAuthSent: true},
		{name: "SkipVerify accepts any certificate", rc: recvConfig{implicitTLS: true, auth: creds}, otherCA: true,
			route:  Route{Host: "smarthost.test", Mode: ModeTLS, Username: "relayuser", Password: "s3cret", SkipVerify: true},
			status: Delivered, enhanced: "2.0.0", wantAuth: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// b.test has no DNS records at all: only the route can reach it.
			f := setup(t, tc.rc, []string{"smarthost.test. A 127.0.0.1"}, func(c *Config) {
				r := tc.route
				r.Port = c.Port // the receiver's
				c.Routes.Domains = map[string]Route{"b.test": r}
				if tc.otherCA {
					_, pool := testCert(t, "smarthost.test")
					c.TLSConfig = &tls.Config{RootCAs: pool}
				}
			})
			tr := f.tr
			res := deliver(t, tr, newMsg(simpleBody, "bob@b.test"))[0]
			if res.Status != tc.status || res.Enhanced != tc.enhanced {
				t.Fatalf("got %v %d %s %q (err %v), want %v %s", res.Status, res.Code, res.Enhanced, res.Message, res.Err, tc.status, tc.enhanced)
			}
			if res.Status == Delivered && res.Host != tc.route.Host {
				t.Errorf("delivered via %q, want %q", res.Host, tc.route.Host)
			}
			msgs := f.rcv.messages()
			if tc.wantAuth {
				if len(msgs) != 1 || msgs[0].authUser != "relayuser" || !msgs[0].tls {
					t.Errorf("receiver: %d messages, auth %q, tls %v", len(msgs), firstAuth(msgs), len(msgs) > 0 && msgs[0].tls)
				}
			}
			if tc.noAuthSent && bytes.Contains(f.rcv.rawAll(), []byte("AUTH")) {
				t.Errorf("AUTH was sent:\n%s", f.rcv.rawAll())
			}
		})
	}
}

// dummyResolver answers nothing; for tests that never resolve.
func dummyResolver() dns.Resolver { return dns.New("127.0.0.1:1") }

func firstAuth(m []received) string {
	if len(m) == 0 {
		return ""
	}
	return m[0].authUser
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	pool := x509.NewCertPool()
	base := func() Config {
		return Config{Resolver: nil, Hostname: "mta.a.test", TLSConfig: &tls.Config{RootCAs: pool}}
	}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no resolver", func(c *Config) {}},
		{"localhost", func(c *Config) { c.Resolver = dummyResolver(); c.Hostname = "localhost" }},
		{"empty hostname", func(c *Config) { c.Resolver = dummyResolver(); c.Hostname = "" }},
		{"plain route with credentials", func(c *Config) {
			c.Resolver = dummyResolver()
			c.Routes.Default = &Route{Host: "relay.test", Mode: ModePlain, Username: "u", Password: "p"}
		}},
		{"unknown mode", func(c *Config) {
			c.Resolver = dummyResolver()
			c.Routes.Domains = map[string]Route{"x.test": {Host: "relay.test", Mode: "ssl"}}
		}},
	}
	for _, tc := range tests {
		c := base()
		tc.mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted the config", tc.name)
		}
	}
	c := base()
	c.Resolver = dummyResolver()
	c.Routes.Default = &Route{Host: "relay.test", Mode: ModeTLS}
	c.Routes.Domains = map[string]Route{"BÜCHER.test.": {Host: "relay.test"}}
	tr, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.cfg.Port != 25 || tr.cfg.Routes.Default.Port != 465 || tr.cfg.Timeouts.DataEnd == 0 {
		t.Errorf("defaults not applied: %+v", tr.cfg)
	}
	if r := tr.cfg.route("xn--bcher-kva.test"); r == nil || r.Host != "relay.test" || r.Port != 587 || r.Mode != ModeSTARTTLS {
		t.Errorf("route keys are not normalised: %+v", tr.cfg.Routes.Domains)
	}
}

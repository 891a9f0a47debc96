package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/autoconfig"
	"github.com/kantorpos/kantorpos/internal/testenv"
	"github.com/kantorpos/kantorpos/internal/tlsprobe"
)

// tbConfig is the part of Thunderbird's document the checks read.
type tbConfig struct {
	Provider struct {
		Domain   string     `xml:"domain"`
		Incoming []tbServer `xml:"incomingServer"`
		Outgoing []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type tbServer struct {
	Type       string `xml:"type,attr"`
	Hostname   string `xml:"hostname"`
	Port       int    `xml:"port"`
	SocketType string `xml:"socketType"`
	Username   string `xml:"username"`
}

// webClient fetches from the test server: Host is the name asked for,
// the connection goes to addr; TLS trusts the server's certificate.
func webClient(e *testenv.Env, addr string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: e.ClientTLS.Clone(),
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// connectAdvertised connects to an advertised service on 127.0.0.1 the
// way the document says (TLS at once, or STARTTLS) and returns the first
// line the server sent over TLS.
func connectAdvertised(t *testing.T, e *testenv.Env, proto string, port int, implicit bool) string {
	t.Helper()
	mode := tlsprobe.STARTTLS
	if implicit {
		mode = tlsprobe.Implicit
	}
	l := tlsprobe.Listener{Addr: "127.0.0.1:" + strconv.Itoa(port), Mode: mode, Proto: proto}
	c, line, err := tlsprobe.Connect(context.Background(), l, e.ClientTLS)
	if err != nil {
		t.Fatalf("%s on port %d (%s): %v", proto, port, mode, err)
	}
	c.Close()
	return line
}

var greetings = map[string]string{"smtp": "2", "pop3": "+OK", "imap": "* "}

// Every autoconfiguration document names the host and ports the running
// server listens on, and each advertised port speaks its protocol over TLS
// as advertised; the RFC 6186 SRV records of `kantorpos dns` agree.
func TestAutoconfigMatchesListeners(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.AddUser(t, "bob@example.test", "bob's password")
	plain := webClient(e, e.Addr["http"])
	resp, body := get(t, plain, "http://autoconfig.example.test"+autoconfig.ThunderbirdPath+"?emailaddress=bob%40example.test")
	if resp.StatusCode != 200 {
		t.Fatalf("thunderbird over http: %s %s", resp.Status, body)
	}
	var tb tbConfig
	if err := xml.Unmarshal(body, &tb); err != nil {
		t.Fatal(err)
	}
	if tb.Provider.Domain != "example.test" || len(tb.Provider.Incoming) == 0 || len(tb.Provider.Outgoing) == 0 {
		t.Fatalf("thunderbird: %s", body)
	}
	want := map[string]bool{} // "proto port implicit" of every listener the server runs
	for name, spec := range map[string]string{"submission": "smtp false", "submissions": "smtp true",
		"imap": "imap false", "imaps": "imap true", "pop3": "pop3 false", "pop3s": "pop3 true"} {
		if a, ok := e.Addr[name]; ok {
			p, implicit, _ := strings.Cut(spec, " ")
			want[p+" "+strconv.Itoa(portOf(t, a))+" "+implicit] = true
		}
	}
	got := map[string]bool{}
	for _, s := range append(tb.Provider.Incoming, tb.Provider.Outgoing...) {
		if s.Hostname != "mx.example.test" || s.Username != "%EMAILADDRESS%" {
			t.Errorf("server %+v", s)
		}
		implicit := s.SocketType == "SSL"
		got[s.Type+" "+strconv.Itoa(s.Port)+" "+strconv.FormatBool(implicit)] = true
		line := connectAdvertised(t, e, s.Type, s.Port, implicit)
		if !strings.HasPrefix(line, greetings[s.Type]) {
			t.Errorf("%s port %d: %q", s.Type, s.Port, line)
		}
	}
	if len(got) != len(want) {
		t.Errorf("thunderbird advertises %v; the server runs %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("listener %s not advertised", k)
		}
	}

	// Outlook (over HTTPS, the certificate verified) and Apple get the
	// preferred (implicit TLS) ports of the same set.
	secure := webClient(e, e.Addr["https"])
	req, _ := http.NewRequest("POST", "https://localhost"+autoconfig.AutodiscoverXMLPath, strings.NewReader(
		`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>`+
			`<EMailAddress>bob@example.test</EMailAddress></Request></Autodiscover>`))
	resp, err := secure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var ad struct {
		Protocols []struct {
			Type, Server, SSL, Encryption, LoginName string
			Port                                     int
		} `xml:"Response>Account>Protocol"`
	}
	if err := xml.Unmarshal(body, &ad); err != nil || resp.StatusCode != 200 || len(ad.Protocols) == 0 {
		t.Fatalf("autodiscover: %s %v %s", resp.Status, err, body)
	}
	for _, p := range ad.Protocols {
		proto := strings.ToLower(p.Type)
		implicit := p.Encryption == ""
		if !want[proto+" "+strconv.Itoa(p.Port)+" "+strconv.FormatBool(implicit)] || p.LoginName != "bob@example.test" || p.Server != "mx.example.test" {
			t.Errorf("autodiscover protocol %+v not a listener", p)
		}
		connectAdvertised(t, e, proto, p.Port, implicit)
	}
	resp, body = get(t, secure, "https://localhost"+autoconfig.AppleProfilePath+"?email=bob%40example.test")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<integer>"+strconv.Itoa(portOf(t, e.Addr["submissions"]))+"</integer>")) {
		t.Errorf("apple profile: %s %s", resp.Status, body)
	}

	records, err := e.Server.Ops.DNSRecords(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := map[string]string{}
	for _, r := range records {
		if r.Type == "SRV" {
			f := strings.Fields(r.Value)
			srv[r.Name] = f[2]
		}
	}
	for name, rec := range map[string]string{"submission": "_submission._tcp", "submissions": "_submissions._tcp",
		"pop3": "_pop3._tcp", "pop3s": "_pop3s._tcp", "imap": "_imap._tcp", "imaps": "_imaps._tcp"} {
		wantPort := "0"
		if a, ok := e.Addr[name]; ok {
			wantPort = strconv.Itoa(portOf(t, a))
		}
		if got := srv[rec+".example.test"]; got != wantPort {
			t.Errorf("SRV %s port %s, listener %s", rec, got, wantPort)
		}
	}
}

// Plain HTTP redirects to HTTPS at the configured host name, except ACME
// challenges and Thunderbird's autoconfig; unknown domains get 404; the
// index page names the server.
func TestWebRedirects(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.AddUser(t, "bob@example.test", "bob's password")
	httpsPort := strconv.Itoa(portOf(t, e.Addr["https"]))
	plain := webClient(e, e.Addr["http"])
	for _, tt := range []struct {
		method, url string
		status      int
		location    string
	}{
		{"GET", "http://mx.example.test/", 301, "https://mx.example.test:" + httpsPort + "/"},
		{"GET", "http://autodiscover.example.test/autodiscover/autodiscover.json?Email=bob@example.test&Protocol=AutodiscoverV1", 301,
			"https://mx.example.test:" + httpsPort + "/autodiscover/autodiscover.json?Email=bob@example.test&Protocol=AutodiscoverV1"},
		// To the configured host name (its certificate), not the Host sent.
		{"POST", "http://autodiscover.example.test/Autodiscover/Autodiscover.xml", 308, "https://mx.example.test:" + httpsPort + "/Autodiscover/Autodiscover.xml"},
		{"GET", "http://autoconfig.example.test/mail/config-v1.1.xml", 200, ""},
		{"GET", "http://autoconfig.other.test/mail/config-v1.1.xml", 404, ""},
		{"GET", "http://mx.example.test/.well-known/acme-challenge/token", 404, ""}, // no ACME: not found, not redirected
	} {
		req, _ := http.NewRequest(tt.method, tt.url, nil)
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
			t.Errorf("%s %s: %d %q; want %d %q", tt.method, tt.url, resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location)
		}
	}
	secure := webClient(e, e.Addr["https"])
	resp, body := get(t, secure, "https://localhost/")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Mail server mx.example.test")) ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("index: %s %s", resp.Status, body)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("index TLS %+v", resp.TLS)
	}
}

// curl fetches Thunderbird's document the way Thunderbird does, from
// autoconfig.DOMAIN over plain HTTP.
func TestCurlFetchesThunderbirdConfig(t *testing.T) {
	t.Parallel()
	curl := testenv.NeedCommand(t, "curl", "curl")
	e := testenv.Start(t, testenv.Options{})
	e.AddUser(t, "bob@example.test", "bob's password")
	port := strconv.Itoa(portOf(t, e.Addr["http"]))
	out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "20",
		"--resolve", "autoconfig.example.test:"+port+":127.0.0.1",
		"http://autoconfig.example.test:"+port+"/mail/config-v1.1.xml?emailaddress=bob%40example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var tb tbConfig
	if err := xml.Unmarshal(out, &tb); err != nil || tb.Provider.Domain != "example.test" {
		t.Fatalf("curl got %s (%v)", out, err)
	}
	if tb.Provider.Outgoing[0].Port != portOf(t, e.Addr["submissions"]) || tb.Provider.Outgoing[0].SocketType != "SSL" {
		t.Errorf("outgoing %+v", tb.Provider.Outgoing[0])
	}
}

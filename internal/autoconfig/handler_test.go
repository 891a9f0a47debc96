package autoconfig

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

type fakeDomains map[string]bool

func (f fakeDomains) HasDomain(_ context.Context, d string) (bool, error) {
	if d == "broken.test" {
		return false, errors.New("database down")
	}
	return f[d], nil
}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	h := &Handler{Published: func() admin.Published { return standard }, Domains: fakeDomains{"example.com": true}}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

type call struct {
	method, path, host, body string
	status                   int
	contentType, golden      string
	contains                 string
}

func (c call) do(t *testing.T, s *httptest.Server) string {
	t.Helper()
	req, err := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.status {
		t.Errorf("%s %s (Host %s): %d, want %d: %s", c.method, c.path, c.host, resp.StatusCode, c.status, body)
	}
	if c.contentType != "" && resp.Header.Get("Content-Type") != c.contentType {
		t.Errorf("%s %s: Content-Type %q", c.method, c.path, resp.Header.Get("Content-Type"))
	}
	if c.golden != "" {
		golden(t, c.golden, body)
	}
	if !strings.Contains(string(body), c.contains) {
		t.Errorf("%s %s: body %q lacks %q", c.method, c.path, body, c.contains)
	}
	return string(body)
}

const adBody = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.com</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func TestThunderbirdHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	xmlType := "text/xml; charset=utf-8"
	for _, c := range []call{
		{method: "GET", path: "/mail/config-v1.1.xml?emailaddress=alice%40example.com", host: "autoconfig.example.com", status: 200, contentType: xmlType, golden: "thunderbird.xml"},
		{method: "GET", path: "/mail/config-v1.1.xml", host: "autoconfig.example.com:8443", status: 200, golden: "thunderbird.xml"},
		{method: "GET", path: "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@example.com", host: "example.com", status: 200, golden: "thunderbird.xml"},
		{method: "GET", path: "/.well-known/autoconfig/mail/config-v1.1.xml", host: "example.com", status: 200, golden: "thunderbird.xml"},
		{method: "GET", path: "/mail/config-v1.1.xml?emailaddress=eve@elsewhere.test", host: "autoconfig.example.com", status: 404},
		{method: "GET", path: "/mail/config-v1.1.xml", host: "autoconfig.elsewhere.test", status: 404},
		{method: "GET", path: "/mail/config-v1.1.xml", host: "127.0.0.1", status: 404},
		{method: "GET", path: "/mail/config-v1.1.xml?emailaddress=not-an-address", host: "autoconfig.example.com", status: 400},
		{method: "GET", path: "/mail/config-v1.1.xml?emailaddress=x@broken.test", status: 500},
		{method: "POST", path: "/mail/config-v1.1.xml", host: "autoconfig.example.com", status: 405},
		{method: "GET", path: "/mail/other.xml", host: "autoconfig.example.com", status: 404},
	} {
		c.do(t, s)
	}
}

func TestAutodiscoverHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	other := strings.Replace(adBody, "alice@example.com", "eve@elsewhere.test", 1)
	activeSync := strings.Replace(adBody, "outlook/responseschema/2006a", "mobilesync/responseschema/2006", 1)
	// A body one byte over the limit, the address at its end.
	big := "<Autodiscover><Request>" + strings.Repeat(" ", MaxRequestBody) + "<EMailAddress>alice@example.com</EMailAddress></Request></Autodiscover>"
	for _, c := range []call{
		{method: "POST", path: "/autodiscover/autodiscover.xml", body: adBody, status: 200, contentType: "text/xml; charset=utf-8", golden: "autodiscover.xml"},
		{method: "POST", path: "/Autodiscover/Autodiscover.xml", body: adBody, status: 200, golden: "autodiscover.xml"},
		{method: "POST", path: "/autodiscover/autodiscover.xml", body: other, status: 404},
		{method: "POST", path: "/autodiscover/autodiscover.xml", body: activeSync, status: 400},
		{method: "POST", path: "/autodiscover/autodiscover.xml", body: "<Autodiscover><Request>", status: 400},
		{method: "POST", path: "/autodiscover/autodiscover.xml", body: big, status: 413},
		{method: "POST", path: "/autodiscover/autodiscover.xml", body: `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`, status: 400},
		{method: "GET", path: "/autodiscover/autodiscover.xml", status: 405},
	} {
		c.do(t, s)
	}
	jsonType := "application/json; charset=utf-8"
	for _, c := range []call{
		{method: "GET", path: "/autodiscover/autodiscover.json?Email=alice%40example.com&Protocol=AutodiscoverV1&RedirectCount=1", host: "autodiscover.example.com",
			status: 200, contentType: jsonType, golden: "autodiscover-v1.json"},
		{method: "GET", path: "/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=AutodiscoverV1", host: "autodiscover.example.com",
			status: 200, golden: "autodiscover-v1.json"},
		{method: "GET", path: "/Autodiscover/Autodiscover.json/v1.0/alice@example.com?Protocol=autodiscoverv1", host: "autodiscover.example.com:8443",
			status: 200, contains: `"Url":"https://autodiscover.example.com:8443/autodiscover/autodiscover.xml"`},
		{method: "GET", path: "/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=ActiveSync", host: "autodiscover.example.com",
			status: 400, contentType: jsonType, contains: `"ErrorCode":"InvalidProtocol"`},
		{method: "GET", path: "/autodiscover/autodiscover.json/v1.0/eve@elsewhere.test?Protocol=AutodiscoverV1", status: 404},
		{method: "GET", path: "/autodiscover/autodiscover.json/v2.0/alice@example.com?Protocol=AutodiscoverV1", status: 404},
		{method: "GET", path: "/autodiscover/autodiscover.json?Protocol=AutodiscoverV1", status: 400},
	} {
		c.do(t, s)
	}
}

func TestAppleProfileHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	body := call{method: "GET", path: "/apple/mobileconfig?email=alice%40example.com", status: 200,
		contentType: "application/x-apple-aspen-config", golden: "apple.mobileconfig"}.do(t, s)
	call{method: "GET", path: "/apple/mobileconfig?email=eve%40elsewhere.test", status: 404}.do(t, s)
	call{method: "GET", path: "/apple/mobileconfig", status: 400}.do(t, s)
	resp, err := http.Get(s.URL + "/apple/mobileconfig?email=alice%40example.com")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := resp.Header.Get("Content-Disposition"); d != `attachment; filename="example.com.mobileconfig"` {
		t.Errorf("Content-Disposition %q", d)
	}
	// Well-formed XML, and no password in it.
	if err := xml.Unmarshal([]byte(body), new(struct{})); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "Password</key>\n\t\t\t<string>") {
		t.Error("profile carries a password")
	}
}

// Python's plistlib (a parser we did not write) reads the profiles back,
// with addresses that need escaping intact.
func TestAppleProfilePlistlib(t *testing.T) {
	t.Parallel()
	py := testutil.Python(t, "plistlib", "python3")
	addr := `o'hara&co<x>@example.com`
	doc, ok := AppleProfile(standard, addr)
	if !ok {
		t.Fatal("no profile")
	}
	p := filepath.Join(t.TempDir(), "p.mobileconfig")
	os.WriteFile(p, doc, 0o600)
	out, err := exec.Command(py, "-c", `import json, plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
print(json.dumps(d))`, p).CombinedOutput()
	if err != nil {
		t.Fatalf("plistlib: %v\n%s", err, out)
	}
	var d struct {
		PayloadType    string
		PayloadContent []map[string]any
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := d.PayloadContent[0]
	if d.PayloadType != "Configuration" || m["EmailAddress"] != addr || m["IncomingMailServerPortNumber"] != float64(993) ||
		m["OutgoingMailServerPortNumber"] != float64(465) || m["IncomingMailServerUseSSL"] != true || m["EmailAccountType"] != "EmailTypeIMAP" {
		t.Fatalf("parsed %s", out)
	}
}

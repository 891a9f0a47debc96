package hostile

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testenv"
)

// The web side of issue 19 (items 7, 8, 9, 10 and 16): the admin
// listener (sign-in, admin pages, /metrics, /static/) and the public web
// listeners (HTTP and HTTPS), attacked over real HTTP on loopback.

const (
	boss     = "boss@example.test"
	bossPass = "boss's long password"
)

// webEnv is a server with alice (a user) and boss (an administrator).
func webEnv(t *testing.T) *testenv.Env {
	t.Helper()
	e := newEnv(t, nil)
	e.AddUser(t, boss, bossPass)
	if err := e.Server.Ops.SetAdmin(context.Background(), boss, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects (the tests read Location).
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// fetch sends a request and returns the response with its body read.
func fetch(t *testing.T, c *http.Client, method, u, host string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

// signIn posts the sign-in form and returns the response.
func signIn(t *testing.T, e *testenv.Env, c *http.Client, addr, pass, next string) *http.Response {
	t.Helper()
	f := url.Values{"address": {addr}, "password": {pass}}
	if next != "" {
		f.Set("next", next)
	}
	resp, _ := fetch(t, c, "POST", "http://"+e.Addr["admin"]+"/login", "", f)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %s", addr, resp.Status)
	}
	return resp
}

func sessionCookie(t *testing.T, e *testenv.Env, c *http.Client) string {
	t.Helper()
	u, _ := url.Parse("http://" + e.Addr["admin"] + "/")
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == "kantorpos_session" {
			return k.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func TestWeb(t *testing.T) {
	t.Parallel()
	e := webEnv(t)
	admin := "http://" + e.Addr["admin"]

	// Item 7: the sign-in's "next" is followed only to a path of ours. A
	// browser reads "/<TAB>/evil.test", "/\evil.test" and the like as
	// //evil.test; each must give the account's default page instead.
	t.Run("login redirect", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct{ next, want string }{
			{"/\t/evil.test", "/me"},
			{"/\n/evil.test", "/me"},
			{"/\r\n/evil.test", "/me"},
			{"/%09/evil.test", "/me"},
			{"/%0d%0a/evil.test", "/me"},
			{"/%2F/evil.test", "/me"},
			{"/%2f%2fevil.test", "/me"},
			{"/%5Cevil.test", "/me"},
			{"/\\evil.test", "/me"},
			{"/\\/evil.test", "/me"},
			{"//evil.test", "/me"},
			{"///evil.test", "/me"},
			{"https://evil.test/", "/me"},
			{"javascript:alert(1)", "/me"},
			{" /evil", "/me"},
			{"/ /evil", "/me"},
			{"/?/evil", "/me"},
			{"/%", "/me"},
			{"/admin/\x00", "/me"},
			{"/\u00a0/evil.test", "/me"},
			// Paths of ours are followed as given.
			{"/me", "/me"},
			{"/admin/accounts?q=amy&page=2", "/admin/accounts?q=amy&page=2"},
			{"/admin/accounts?q=%C3%A9", "/admin/accounts?q=%C3%A9"},
			{"/", "/"},
		} {
			resp := signIn(t, e, browser(t), user, password, tt.next)
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("next %q: Location %q, want %q", tt.next, got, tt.want)
			}
		}
		// The sign-in page does not carry a foreign target either.
		_, body := fetch(t, browser(t), "GET", admin+"/login?next=/%09/evil.test", "", nil)
		if strings.Contains(body, "evil.test") {
			t.Errorf("sign-in page keeps the target: %.500s", body)
		}
	})

	// Item 8: the admin listener answers only its own names (DNS
	// rebinding: a page of evil.test re-pointed at 127.0.0.1 sends
	// Host: evil.test), and the public HTTP listener redirects to the
	// configured host name, whatever Host the request named.
	t.Run("host", func(t *testing.T) {
		t.Parallel()
		c := browser(t)
		_, port, _ := net.SplitHostPort(e.Addr["admin"])
		for _, host := range []string{"evil.test", "evil.test:" + port, "127.0.0.1.evil.test", "localhost.evil.test",
			"mx.example.test.evil.test", "192.0.2.1", "[2001:db8::1]:" + port, "mx.example.test@evil.test"} {
			for _, path := range []string{"/metrics", "/healthz", "/login", "/api/v1/session"} {
				resp, body := fetch(t, c, "GET", admin+path, host, nil)
				if resp.StatusCode != http.StatusMisdirectedRequest {
					t.Errorf("Host %q GET %s: %s, want 421: %.200s", host, path, resp.Status, body)
				}
			}
			// Signing in through the rebound name does not work either.
			resp, _ := fetch(t, c, "POST", admin+"/login", host, url.Values{"address": {boss}, "password": {bossPass}})
			if resp.StatusCode != http.StatusMisdirectedRequest || len(resp.Cookies()) != 0 {
				t.Errorf("Host %q sign-in: %s, cookies %v", host, resp.Status, resp.Cookies())
			}
		}
		for _, host := range []string{"", "127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "app.localhost:" + port,
			"mx.example.test", "MX.Example.Test.:" + port, "[::1]:" + port, "127.0.0.2"} {
			if resp, _ := fetch(t, c, "GET", admin+"/healthz", host, nil); resp.StatusCode != 200 {
				t.Errorf("Host %q: %s, want 200", host, resp.Status)
			}
		}
		// curl, as an attacker's script would send it.
		curl := testenv.NeedCommand(t, "curl", "curl")
		out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.test",
			admin+"/metrics").Output()
		if err != nil || string(out) != "421" {
			t.Errorf("curl -H 'Host: evil.test' /metrics: %q %v", out, err)
		}
		// The public listener: the redirect to HTTPS names our host.
		for _, host := range []string{"evil.test", "evil.test:80", "autoconfig.example.test"} {
			resp, _ := fetch(t, c, "GET", "http://"+e.Addr["http"]+"/x?y=z", host, nil)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://mx.example.test:") ||
				!strings.HasSuffix(loc, "/x?y=z") {
				t.Errorf("http listener, Host %q: %s Location %q", host, resp.Status, loc)
			}
		}
	})

	// Item 9: text in ?err= or ?ok= never shows on a page; the outcome of
	// a form post comes from the session, once.
	t.Run("flash", func(t *testing.T) {
		t.Parallel()
		const spoof = "Your+account+is+locked.+Call+SPOOFTEXT"
		c := browser(t)
		for _, path := range []string{"/login?err=" + spoof, "/login?ok=" + spoof} {
			if _, body := fetch(t, c, "GET", admin+path, "", nil); strings.Contains(body, "SPOOFTEXT") {
				t.Errorf("GET %s shows the URL's text", path)
			}
		}
		signIn(t, e, c, boss, bossPass, "")
		for _, path := range []string{"/admin/domains?err=" + spoof, "/me?ok=" + spoof, "/admin/?err=" + spoof} {
			if resp, body := fetch(t, c, "GET", admin+path, "", nil); resp.StatusCode != 200 || strings.Contains(body, "SPOOFTEXT") {
				t.Errorf("GET %s: %s, shows the URL's text: %v", path, resp.Status, strings.Contains(body, "SPOOFTEXT"))
			}
		}
		// A real outcome: not in the Location, shown on the next page, once.
		_, page := fetch(t, c, "GET", admin+"/admin/domains", "", nil)
		csrf := field(page, "csrf")
		resp, _ := fetch(t, c, "POST", admin+"/admin/domains", "", url.Values{"csrf": {csrf}, "action": {"add"}, "name": {"flash.test"}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/admin/domains" {
			t.Fatalf("add domain: %s Location %q", resp.Status, loc)
		}
		if _, body := fetch(t, c, "GET", admin+"/admin/domains", "", nil); !strings.Contains(body, "Domain flash.test added") {
			t.Errorf("the outcome is not shown: %.2000s", body)
		}
		if _, body := fetch(t, c, "GET", admin+"/admin/domains", "", nil); strings.Contains(body, "Domain flash.test added") {
			t.Errorf("the outcome is shown twice")
		}
		// An error outcome too, escaped.
		fetch(t, c, "POST", admin+"/admin/domains", "", url.Values{"csrf": {csrf}, "action": {"add"}, "name": {"<b>bad"}})
		if _, body := fetch(t, c, "GET", admin+"/admin/domains", "", nil); !strings.Contains(body, `class="error"`) || strings.Contains(body, "<b>bad") {
			t.Errorf("error outcome not shown or not escaped: %.2000s", body)
		}
	})

	// Item 10: signing in as someone else in the same browser ends the
	// earlier session on the server; its cookie no longer works.
	t.Run("second sign-in", func(t *testing.T) {
		t.Parallel()
		c := browser(t)
		signIn(t, e, c, boss, bossPass, "")
		first := sessionCookie(t, e, c)
		signIn(t, e, c, user, password, "")
		if second := sessionCookie(t, e, c); second == first {
			t.Fatal("the session cookie did not change")
		}
		old := &http.Client{Timeout: 30 * time.Second}
		req, _ := http.NewRequest("GET", admin+"/api/v1/session", nil)
		req.AddCookie(&http.Cookie{Name: "kantorpos_session", Value: first})
		resp, err := old.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("boss's earlier session after alice signed in: %s, want 401", resp.Status)
		}
		// The current one works, as alice.
		if resp, body := fetch(t, c, "GET", admin+"/api/v1/session", "", nil); resp.StatusCode != 200 || !strings.Contains(body, user) {
			t.Errorf("alice's session: %s %.300s", resp.Status, body)
		}
	})

	// Item 16: no directory listing, and paths that are not UTF-8 (overlong
	// forms) are a client error, never 500, on every web listener.
	t.Run("static", func(t *testing.T) {
		t.Parallel()
		c := browser(t)
		follow := &http.Client{Timeout: 30 * time.Second} // /static -> /static/
		for _, path := range []string{"/static/", "/static", "/static/./", "/static/%2e/"} {
			resp, body := fetch(t, follow, "GET", admin+path, "", nil)
			if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "app.css") {
				t.Errorf("admin GET %s: %s %.300s", path, resp.Status, body)
			}
		}
		if resp, _ := fetch(t, c, "GET", admin+"/static/app.css", "", nil); resp.StatusCode != 200 {
			t.Errorf("admin /static/app.css: %s", resp.Status)
		}
		secure := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: e.ClientTLS.Clone()},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, base := range []string{admin, "http://" + e.Addr["http"], "https://" + e.Addr["https"]} {
			cl := c
			if strings.HasPrefix(base, "https") {
				cl = secure
			}
			for _, path := range []string{"/static/%C0%AE%C0%AE/app.css", "/static/%C0%AF", "/static/..%c0%af..%c0%afetc/passwd",
				"/static/%e0%80%af", "/static/%ff", "/%C0%AE%C0%AE/", "/autodiscover/%c0%ae"} {
				resp, _ := fetch(t, cl, "GET", base+path, "", nil)
				if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s%s: %s, want 400 or 404", base, path, resp.Status)
				}
			}
		}
	})

	// Item 16: a request with both Content-Length and Transfer-Encoding
	// (RFC 9112 6.3) is refused and its connection closed, so nothing
	// after it on the connection (a smuggled request) is read.
	t.Run("smuggling", func(t *testing.T) {
		t.Parallel()
		const smuggled = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
		for _, name := range []string{"admin", "http", "https"} {
			for _, req := range []string{
				"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
				"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n",
				"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
				"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			} {
				var nc net.Conn
				var err error
				if name == "https" {
					cfg := e.ClientTLS.Clone()
					cfg.NextProtos = []string{"http/1.1"}
					nc, err = tls.Dial("tcp", e.Addr[name], cfg)
				} else {
					nc, err = net.Dial("tcp", e.Addr[name])
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				nc.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(nc, req+smuggled); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(nc)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Errorf("%s: %q: no response: %v", name, req, err)
					nc.Close()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusLengthRequired || !resp.Close {
					t.Errorf("%s: %q: %s, Connection: close %v; want 400 or 411 and close", name, req, resp.Status, resp.Close)
				}
				// The connection ends here: no answer to the smuggled request.
				if second, err := http.ReadResponse(br, nil); err == nil {
					second.Body.Close()
					t.Errorf("%s: after %q the server answered the next request too: %s", name, req, second.Status)
				} else if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Errorf("%s: after %q the connection stayed open: %v", name, req, err)
				}
				nc.Close()
			}
		}
	})
}

// field returns the value of the first hidden input of that name in a page.
func field(page, name string) string {
	_, rest, ok := strings.Cut(page, `name="`+name+`" value="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

package adminweb_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func (c *client) form(path string, v url.Values) (int, string) {
	c.t.Helper()
	resp, err := c.hc.PostForm(c.f.base+path, v)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) page(path string) (int, string) {
	c.t.Helper()
	resp, err := c.hc.Get(c.f.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	a := f.signIn(t, adminAddr, adminPass)
	for path, want := range map[string]string{
		"/admin/":         "Received today",
		"/admin/domains":  "example.test",
		"/admin/accounts": "amy@example.test",
		"/admin/aliases":  "postmaster@example.test",
		"/admin/queue":    "The queue is empty",
		"/admin/dns":      "Check now",
		"/me":             "Change password",
	} {
		st, body := a.page(path)
		if st != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want %q in:\n%.2000s", path, st, want, body)
		}
		if !strings.Contains(body, `name="csrf" value="`+a.csrf+`"`) {
			t.Errorf("GET %s: no CSRF field", path)
		}
	}
	// Forms: with the CSRF field they act; without or wrong, refused.
	st, body := a.form("/admin/domains", url.Values{"csrf": {a.csrf}, "action": {"add"}, "name": {"paged.test"}})
	if st != 200 || !strings.Contains(body, "Domain paged.test added") {
		t.Fatalf("add domain form: %d %.1000s", st, body)
	}
	st, _ = a.form("/admin/domains", url.Values{"action": {"add"}, "name": {"nocsrf.test"}})
	if st != 403 {
		t.Fatalf("form without CSRF: %d", st)
	}
	st, _ = a.form("/admin/domains", url.Values{"csrf": {"x" + a.csrf}, "action": {"add"}, "name": {"nocsrf.test"}})
	if st != 403 {
		t.Fatalf("form with a wrong CSRF token: %d", st)
	}
	if ok, _ := f.e.Store.HasDomain(t.Context(), "nocsrf.test"); ok {
		t.Fatal("a refused form added a domain")
	}
	// Search and paging.
	for i := range 30 {
		f.e.AddUser(t, "p"+string(rune('a'+i/26))+string(rune('a'+i%26))+"@paged.test", "paged password")
	}
	_, body = a.page("/admin/accounts?domain=paged.test")
	if !strings.Contains(body, "30 in all · page 1 of 2") || !strings.Contains(body, "Next →") {
		t.Fatalf("paging: %.3000s", body)
	}
	_, body = a.page("/admin/accounts?q=pbd")
	if !strings.Contains(body, "pbd@paged.test") || strings.Contains(body, "paa@paged.test") {
		t.Fatalf("search: %.3000s", body)
	}
	// An error shows on the page, escaped.
	_, body = a.form("/admin/accounts", url.Values{"csrf": {a.csrf}, "action": {"add"}, "address": {"<b>x@nowhere.test"}, "password": {"long enough"}})
	if !strings.Contains(body, "&lt;b&gt;x@nowhere.test") || strings.Contains(body, "<b>x@") {
		t.Fatalf("error not shown or not escaped: %.3000s", body)
	}

	// A user reaches their own page, not the admin pages.
	u := f.signIn(t, userAddr, userPass)
	if st, _ := u.page("/admin/"); st != 403 {
		t.Fatalf("user on /admin/: %d", st)
	}
	if st, body := u.page("/me"); st != 200 || !strings.Contains(body, userAddr) || strings.Contains(body, `href="/admin/queue"`) {
		t.Fatalf("user /me: %d", st)
	}
	// Nobody signed in: to the sign-in page, and back after.
	anon := &client{t: t, f: f, hc: &http.Client{}}
	if st, body := anon.page("/admin/queue"); st != 200 || !strings.Contains(body, `name="next" value="/admin/queue"`) {
		t.Fatalf("anonymous /admin/queue: %d %.500s", st, body)
	}
	if st, body := anon.form("/login", url.Values{"address": {adminAddr}, "password": {"wrong password"}}); st != 401 ||
		!strings.Contains(body, "Wrong address or password") {
		t.Fatalf("wrong password: %d", st)
	}
	// Sign out needs the CSRF token, and ends the session.
	if st, _ := a.form("/logout", url.Values{}); st != 403 {
		t.Fatalf("sign out without CSRF: %d", st)
	}
	if st, body := a.form("/logout", url.Values{"csrf": {a.csrf}}); st != 200 || !strings.Contains(body, "Signed out") {
		t.Fatalf("sign out: %d", st)
	}
	a.want(401, "GET", "/api/v1/status", nil)
}

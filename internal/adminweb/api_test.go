package adminweb_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
)

// endpoint is one API operation with a request that would succeed or fail
// on its merits; the authorisation tests only look at 401/403.
type endpoint struct {
	method, path string
	body         any
}

var adminEndpoints = []endpoint{
	{"GET", "/api/v1/status", nil},
	{"GET", "/api/v1/domains", nil},
	{"POST", "/api/v1/domains", map[string]string{"name": "new.test"}},
	{"DELETE", "/api/v1/domains/new.test", nil},
	{"GET", "/api/v1/domains/example.test/dns", nil},
	{"GET", "/api/v1/domains/example.test/dns/check", nil},
	{"GET", "/api/v1/domains/example.test/dkim", nil},
	{"POST", "/api/v1/domains/example.test/dkim/rotate", nil},
	{"GET", "/api/v1/accounts", nil},
	{"POST", "/api/v1/accounts", map[string]string{"address": "x@example.test", "password": "x password 1"}},
	{"GET", "/api/v1/accounts/amy@example.test", nil},
	{"PATCH", "/api/v1/accounts/amy@example.test", map[string]any{"quota_bytes": 1}},
	{"DELETE", "/api/v1/accounts/x@example.test", nil},
	{"GET", "/api/v1/aliases", nil},
	{"POST", "/api/v1/aliases", map[string]string{"address": "a@example.test", "target": "amy@example.test"}},
	{"DELETE", "/api/v1/aliases/a@example.test", nil},
	{"GET", "/api/v1/queue", nil},
	{"GET", "/api/v1/queue/1", nil},
	{"POST", "/api/v1/queue/1/retry", nil},
	{"POST", "/api/v1/queue/1/bounce", nil},
	{"DELETE", "/api/v1/queue/1", nil},
}

func TestAPIAuthorisation(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	none := f.tokenClient(t, "")
	wrong := f.tokenClient(t, "kpt_"+strings.Repeat("A", 52))
	garbage := f.tokenClient(t, "not-a-token")
	user := f.signIn(t, userAddr, userPass)
	noCSRF := f.signIn(t, adminAddr, adminPass)
	noCSRF.csrf = ""
	badCSRF := f.signIn(t, adminAddr, adminPass)
	badCSRF.csrf = "wrong-" + badCSRF.csrf
	userNoCSRF := f.signIn(t, userAddr, userPass)
	userNoCSRF.csrf = ""
	crossSite := f.tokenClient(t, f.token)
	crossSite.header = http.Header{"Sec-Fetch-Site": {"cross-site"}}
	crossOrigin := f.signIn(t, adminAddr, adminPass)
	crossOrigin.header = http.Header{"Origin": {"http://evil.example"}}

	for _, ep := range adminEndpoints {
		cases := []struct {
			name string
			c    *client
			want int
		}{
			{"no credentials", none, 401},
			{"wrong token", wrong, 401},
			{"malformed token", garbage, 401},
			{"user (not admin)", user, 403},
		}
		if ep.method != "GET" {
			cases = append(cases, []struct {
				name string
				c    *client
				want int
			}{
				{"admin session without CSRF token", noCSRF, 403},
				{"admin session with a wrong CSRF token", badCSRF, 403},
				{"cross-site (Sec-Fetch-Site)", crossSite, 403},
				{"cross-origin (Origin)", crossOrigin, 403},
			}...)
		}
		for _, tc := range cases {
			st, body := tc.c.do(ep.method, ep.path, ep.body)
			if st != tc.want {
				t.Errorf("%s %s, %s: status %d, want %d: %s", ep.method, ep.path, tc.name, st, tc.want, body)
			}
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s %s, %s: no JSON error: %s", ep.method, ep.path, tc.name, body)
			}
		}
	}
	// Nothing of the refused requests happened.
	if _, err := f.e.Server.Ops.Account(t.Context(), "x@example.test"); err == nil {
		t.Error("a refused request created an account")
	}
	if acc, _ := f.e.Server.Ops.Account(t.Context(), userAddr); acc.QuotaBytes != 0 {
		t.Error("a refused request changed a quota")
	}
	// The user's own endpoints: a session, with the CSRF token for changes;
	// a token acts for no account.
	user.want(200, "GET", "/api/v1/me", nil)
	userNoCSRF.want(403, "PUT", "/api/v1/me/settings", map[string]any{"forward_to": ""})
	f.tokenClient(t, f.token).want(403, "GET", "/api/v1/me", nil)
	none.want(401, "GET", "/api/v1/me", nil)
	// A cross-site sign-in form is refused too (login CSRF).
	req, _ := http.NewRequest("POST", f.base+"/login", strings.NewReader("address=boss%40example.test&password=boss+password+1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-site sign-in: %s", resp.Status)
	}
	// Taking administrator rights away ends the session's rights at once.
	admin := f.signIn(t, adminAddr, adminPass)
	admin.want(200, "GET", "/api/v1/domains", nil)
	if err := f.e.Server.Ops.SetAdmin(t.Context(), adminAddr, false); err != nil {
		t.Fatal(err)
	}
	admin.want(403, "GET", "/api/v1/domains", nil)
	if err := f.e.Server.Ops.SetDisabled(t.Context(), adminAddr, true); err != nil {
		t.Fatal(err)
	}
	admin.want(401, "GET", "/api/v1/me", nil)
}

func TestAPIOperations(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.e.DNS.ServFail("remote.test.", true) // queued mail stays deferred
	for _, c := range []*client{f.tokenClient(t, f.token), f.signIn(t, adminAddr, adminPass)} {
		t.Run(map[bool]string{true: "token", false: "session"}[c.bearer != ""], func(t *testing.T) {
			c.t = t
			apiOperations(t, f, c)
		})
	}
}

func apiOperations(t *testing.T, f *fixture, c *client) {
	// Domains.
	c.want(201, "POST", "/api/v1/domains", map[string]string{"name": "corp.test"})
	c.want(409, "POST", "/api/v1/domains", map[string]string{"name": "corp.test"})
	c.want(400, "POST", "/api/v1/domains", map[string]string{"name": "not a domain"})
	c.want(400, "POST", "/api/v1/domains", map[string]string{"nom": "corp.test"})
	var domains struct {
		Items []struct{ Name string }
		Total int
	}
	c.json("GET", "/api/v1/domains?q=corp", nil, &domains)
	if domains.Total != 1 || domains.Items[0].Name != "corp.test" {
		t.Fatalf("domains = %+v", domains)
	}

	// Accounts: create, read, change, list, delete.
	var acc struct {
		Address    string
		QuotaBytes int64 `json:"quota_bytes"`
		Disabled   bool
		Admin      bool
	}
	b := c.want(201, "POST", "/api/v1/accounts", map[string]any{"address": "Eve@corp.test", "password": "eve password 1",
		"quota_bytes": 5 << 20, "admin": true})
	if err := json.Unmarshal(b, &acc); err != nil || acc.Address != "eve@corp.test" || acc.QuotaBytes != 5<<20 || !acc.Admin {
		t.Fatalf("created %s", b)
	}
	if contains(b, "password") || contains(b, "argon2") {
		t.Fatalf("the API shows a password hash: %s", b)
	}
	c.want(409, "POST", "/api/v1/accounts", map[string]any{"address": "eve@corp.test", "password": "eve password 1"})
	c.want(400, "POST", "/api/v1/accounts", map[string]any{"address": "weak@corp.test", "password": "short"})
	c.want(404, "POST", "/api/v1/accounts", map[string]any{"address": "x@nowhere.test", "password": "x password 1"})
	c.want(400, "POST", "/api/v1/accounts", map[string]any{"address": "x@corp.test"})
	c.want(404, "GET", "/api/v1/accounts/nobody@corp.test", nil)
	b = c.want(200, "PATCH", "/api/v1/accounts/eve@corp.test", map[string]any{"password": "eve's new password",
		"quota_bytes": 0, "disabled": true, "admin": false})
	json.Unmarshal(b, &acc)
	if acc.QuotaBytes != 0 || !acc.Disabled || acc.Admin {
		t.Fatalf("patched %s", b)
	}
	if _, err := f.e.Server.Auth.Authenticate(t.Context(), "eve@corp.test", "eve's new password", testIP, "imap"); err == nil {
		t.Fatal("a disabled account can log in")
	}
	c.want(200, "PATCH", "/api/v1/accounts/eve@corp.test", map[string]any{"disabled": false})
	if _, err := f.e.Server.Auth.Authenticate(t.Context(), "eve@corp.test", "eve's new password", testIP, "imap"); err != nil {
		t.Fatalf("the reset password does not work: %v", err)
	}
	c.want(400, "PATCH", "/api/v1/accounts/eve@corp.test", map[string]any{"quota_bytes": -5})
	c.want(404, "PATCH", "/api/v1/accounts/nobody@corp.test", map[string]any{"disabled": true})
	var accounts struct {
		Items []struct{ Address string }
		Total int
	}
	c.json("GET", "/api/v1/accounts?domain=corp.test&limit=1", nil, &accounts)
	if accounts.Total != 2 || len(accounts.Items) != 1 { // eve and postmaster? no: eve only, plus the alias is not an account
		if accounts.Total != 1 {
			t.Fatalf("accounts = %+v", accounts)
		}
	}
	c.want(400, "GET", "/api/v1/accounts?offset=-1", nil)

	// Aliases.
	c.want(201, "POST", "/api/v1/aliases", map[string]string{"address": "sales@corp.test", "target": "eve@corp.test"})
	c.want(409, "POST", "/api/v1/aliases", map[string]string{"address": "sales@corp.test", "target": "eve@corp.test"})
	c.want(409, "POST", "/api/v1/aliases", map[string]string{"address": "eve@corp.test", "target": "amy@example.test"})
	var aliases struct {
		Items []struct{ Address, Target string }
	}
	c.json("GET", "/api/v1/aliases?q=sales", nil, &aliases)
	if len(aliases.Items) != 1 || aliases.Items[0].Target != "eve@corp.test" {
		t.Fatalf("aliases = %+v", aliases)
	}
	c.want(204, "DELETE", "/api/v1/aliases/sales@corp.test?target=eve@corp.test", nil)
	c.want(404, "DELETE", "/api/v1/aliases/sales@corp.test", nil)

	// DKIM keys and DNS records.
	var keys struct {
		Keys []struct {
			Selector, Algorithm string
			Signing             bool
			DNSValue            string `json:"dns_value"`
		}
	}
	b = c.want(200, "GET", "/api/v1/domains/corp.test/dkim", nil)
	json.Unmarshal(b, &keys)
	if len(keys.Keys) == 0 || !keys.Keys[0].Signing || !strings.Contains(keys.Keys[0].DNSValue, "p=") || contains(b, "PRIVATE") {
		t.Fatalf("dkim = %s", b)
	}
	b = c.want(200, "POST", "/api/v1/domains/corp.test/dkim/rotate", map[string]string{"delay": "0s"})
	var rot struct{ New, Retired []struct{ Selector string } }
	json.Unmarshal(b, &rot)
	if len(rot.New) == 0 || len(rot.Retired) == 0 || contains(b, "PRIVATE") {
		t.Fatalf("rotate = %s", b)
	}
	c.want(400, "POST", "/api/v1/domains/corp.test/dkim/rotate", map[string]string{"delay": "soon"})
	c.want(404, "GET", "/api/v1/domains/nowhere.test/dkim", nil)
	var recs struct {
		Records []struct{ Type, Name, Value string }
	}
	c.json("GET", "/api/v1/domains/corp.test/dns", nil, &recs)
	types := map[string]bool{}
	for _, r := range recs.Records {
		types[r.Type] = true
	}
	if !types["MX"] || !types["TXT"] {
		t.Fatalf("records = %+v", recs)
	}
	f.e.DNS.Add(t, "corp.test. MX 10 mx.example.test.")
	var check struct {
		OK       bool
		Problems int
		Findings []struct{ Type, Name, Status, Hint string }
	}
	c.json("GET", "/api/v1/domains/corp.test/dns/check", nil, &check)
	mxOK := false
	for _, fd := range check.Findings {
		if fd.Type == "MX" && fd.Status == "ok" {
			mxOK = true
		}
	}
	if check.OK || check.Problems == 0 || !mxOK {
		t.Fatalf("check = %+v", check)
	}

	// The queue: list, show, retry, bounce, delete.
	id := queueMessage(t, f.e, "amy@example.test", "someone@remote.test")
	waitAttempts(t, f.e, id, 1)
	var q struct {
		Items []struct {
			ID        int64
			LastError string `json:"last_error"`
			Attempts  int
			Rcpts     []struct{ Addr, Status string }
		}
	}
	c.json("GET", "/api/v1/queue", nil, &q)
	if len(q.Items) != 1 || q.Items[0].ID != id || q.Items[0].LastError == "" || q.Items[0].Rcpts[0].Addr != "someone@remote.test" {
		t.Fatalf("queue = %+v", q)
	}
	c.want(200, "GET", fmt.Sprintf("/api/v1/queue/%d", id), nil)
	c.want(404, "GET", "/api/v1/queue/999999", nil)
	c.want(400, "GET", "/api/v1/queue/abc", nil)
	c.want(200, "POST", fmt.Sprintf("/api/v1/queue/%d/retry", id), nil)
	waitAttempts(t, f.e, id, 2)
	c.want(200, "POST", "/api/v1/queue/all/retry", nil)
	waitAttempts(t, f.e, id, 3)
	c.want(204, "POST", fmt.Sprintf("/api/v1/queue/%d/bounce", id), nil)
	c.want(404, "GET", fmt.Sprintf("/api/v1/queue/%d", id), nil)
	id2 := queueMessage(t, f.e, "amy@example.test", "other@remote.test")
	waitAttempts(t, f.e, id2, 1)
	c.want(204, "DELETE", fmt.Sprintf("/api/v1/queue/%d", id2), nil)
	c.want(404, "DELETE", fmt.Sprintf("/api/v1/queue/%d", id2), nil)

	// Status.
	var st struct {
		Listeners []struct{ Name string }
		Queue     struct{ Entries int }
		Today     map[string]int64
		Domains   int
		Cert      *struct {
			DaysLeft int `json:"days_left"`
		} `json:"certificate"`
		Disk *struct {
			UsedBytes int64 `json:"used_bytes"`
		}
	}
	c.json("GET", "/api/v1/status", nil, &st)
	if len(st.Listeners) < 8 || st.Domains < 2 || st.Cert == nil || st.Cert.DaysLeft < 30 || st.Disk == nil || st.Disk.UsedBytes == 0 ||
		st.Today["deferred"] < 1 || st.Today["bounced"] < 1 {
		t.Fatalf("status = %+v", st)
	}

	// Clean up for the next client.
	c.want(204, "DELETE", "/api/v1/accounts/eve@corp.test", nil)
	c.want(404, "DELETE", "/api/v1/accounts/eve@corp.test", nil)
	for _, a := range f.mustAliases(t, c, "corp.test") {
		c.want(204, "DELETE", "/api/v1/aliases/"+a, nil)
	}
	c.want(204, "DELETE", "/api/v1/domains/corp.test", nil)
	c.want(404, "DELETE", "/api/v1/domains/corp.test", nil)
	f.e.DNS.Remove("corp.test.")
}

func (f *fixture) mustAliases(t *testing.T, c *client, domain string) []string {
	var aliases struct{ Items []struct{ Address string } }
	c.json("GET", "/api/v1/aliases?domain="+domain, nil, &aliases)
	var out []string
	for _, a := range aliases.Items {
		out = append(out, a.Address)
	}
	return out
}

func TestAPIUserSelfService(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	u := f.signIn(t, userAddr, userPass)
	var me struct {
		Account  struct{ Address string }
		Settings struct {
			ForwardTo   string `json:"forward_to"`
			AwayEnabled bool   `json:"away_enabled"`
		}
		Client []struct {
			Service, Host, Security, Username string
			Port                              int
		}
	}
	u.json("GET", "/api/v1/me", nil, &me)
	// The ports are the bound ones (testenv's are ephemeral).
	_, imaps, _ := net.SplitHostPort(f.e.Addr["imaps"])
	if me.Account.Address != userAddr || len(me.Client) != 6 || me.Client[0].Username != userAddr ||
		me.Client[0].Host != "mx.example.test" || strconv.Itoa(me.Client[0].Port) != imaps || me.Client[0].Security != "SSL/TLS" {
		t.Fatalf("me = %+v", me)
	}
	u.want(204, "PUT", "/api/v1/me/settings", map[string]any{"forward_to": "amy@elsewhere.test", "forward_keep": true,
		"away_enabled": true, "away_subject": "Away", "away_body": "Back Monday."})
	u.want(400, "PUT", "/api/v1/me/settings", map[string]any{"forward_to": "nonsense"})
	u.json("GET", "/api/v1/me", nil, &me)
	if me.Settings.ForwardTo != "amy@elsewhere.test" || !me.Settings.AwayEnabled {
		t.Fatalf("settings = %+v", me.Settings)
	}
	u.want(400, "PUT", "/api/v1/me/password", map[string]string{"current": "wrong password", "new": "amy new password"})
	u.want(400, "PUT", "/api/v1/me/password", map[string]string{"current": userPass, "new": "short"})
	u.want(204, "PUT", "/api/v1/me/password", map[string]string{"current": userPass, "new": "amy new password"})
	if _, err := f.e.Server.Auth.Authenticate(t.Context(), userAddr, "amy new password", testIP, "imap"); err != nil {
		t.Fatal(err)
	}
	u.want(200, "GET", "/api/v1/me", nil) // the session that changed it goes on
}

func TestHealthAndMetricsAccess(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	anon := f.tokenClient(t, "")
	if b := anon.want(200, "GET", "/healthz", nil); !contains(b, "ok") {
		t.Fatalf("healthz %s", b)
	}
	if b := anon.want(200, "GET", "/readyz", nil); !contains(b, "ready") {
		t.Fatalf("readyz %s", b)
	}
	// Loopback listener: /metrics is open.
	anon.want(200, "GET", "/metrics", nil)
	anon.want(404, "GET", "/api/v1/nothing", nil)
}

// With TLS (the configuration for listening beyond loopback), cookies are
// Secure and /metrics wants a token.
func TestAdminTLS(t *testing.T) {
	t.Parallel()
	f := start(t, func(c *config.Config) { c.Admin.TLS = true })
	f.base = "https://" + f.e.Addr["admin"]
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: f.e.ClientTLS},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(f.base+"/login", map[string][]string{"address": {adminAddr}, "password": {adminPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, c := range resp.Cookies() {
		if c.Name == "kantorpos_session" {
			secure = c.Secure && c.HttpOnly && c.SameSite == http.SameSiteStrictMode
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" || !secure {
		t.Fatalf("sign-in: %s, Location %q, cookie %v", resp.Status, resp.Header.Get("Location"), resp.Header["Set-Cookie"])
	}
	tc := f.tokenClient(t, f.token)
	tc.hc = hc
	tc.want(200, "GET", "/api/v1/status", nil)
}

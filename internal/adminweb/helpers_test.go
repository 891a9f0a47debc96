package adminweb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

const (
	adminAddr = "boss@example.test"
	adminPass = "boss password 1"
	userAddr  = "amy@example.test"
	userPass  = "amy password 1"
)

// fixture is a running server with an administrator, a plain user and an
// API token.
type fixture struct {
	e     *testenv.Env
	base  string // http://127.0.0.1:port
	token string
}

func start(t *testing.T, configure func(*config.Config)) *fixture {
	t.Helper()
	return fixtureFor(t, testenv.Start(t, testenv.Options{Configure: configure}))
}

// fixtureFor adds the administrator, the user and a token to a server.
func fixtureFor(t *testing.T, e *testenv.Env) *fixture {
	t.Helper()
	e.AddUser(t, adminAddr, adminPass)
	e.AddUser(t, userAddr, userPass)
	ctx := context.Background()
	if err := e.Server.Ops.SetAdmin(ctx, adminAddr, true); err != nil {
		t.Fatal(err)
	}
	tok, err := e.Server.Ops.AddToken(ctx, "tests")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{e: e, base: "http://" + e.Addr["admin"], token: tok}
}

// client is one HTTP client: a token, or a cookie session with its CSRF token.
type client struct {
	t      *testing.T
	f      *fixture
	hc     *http.Client
	bearer string
	csrf   string
	header http.Header // extra headers on every request
}

func (f *fixture) tokenClient(t *testing.T, token string) *client {
	return &client{t: t, f: f, hc: &http.Client{Timeout: 30 * time.Second}, bearer: token}
}

// signIn posts the sign-in form like a browser and reads the CSRF token.
func (f *fixture) signIn(t *testing.T, addr, pass string) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, f: f, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	resp, err := c.hc.PostForm(f.base+"/login", url.Values{"address": {addr}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s: %s", addr, resp.Status)
	}
	var s struct {
		CSRF  string `json:"csrf_token"`
		Admin bool   `json:"admin"`
	}
	if st := c.json("GET", "/api/v1/session", nil, &s); st != 200 || s.CSRF == "" {
		t.Fatalf("session: %d %+v", st, s)
	}
	c.csrf = s.CSRF
	return c
}

// do sends a request and returns the status and body. body, when not nil,
// is sent as JSON.
func (c *client) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.f.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// json sends a request and decodes a JSON answer into out (may be nil).
func (c *client) json(method, path string, body, out any) int {
	c.t.Helper()
	st, b := c.do(method, path, body)
	if out != nil && len(b) > 0 && st < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return st
}

// want checks a request's status and returns the body.
func (c *client) want(status int, method, path string, body any) []byte {
	c.t.Helper()
	st, b := c.do(method, path, body)
	if st != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, status, b)
	}
	return b
}

// queueMessage puts a message for rcpt in the outbound queue, as the SMTP
// server would, and returns its queue id.
func queueMessage(t *testing.T, e *testenv.Env, from, rcpt string) int64 {
	t.Helper()
	ref := storetest.PutBlob(t, e.Server.Blobs, storetest.Msg("queued", "for "+rcpt))
	res, err := e.Store.Deliver(context.Background(), &store.Delivery{Blob: ref, ReceivedAt: e.Clock.Now(),
		Remote: &store.Outbound{From: from, Rcpts: []store.OutRcpt{{Addr: rcpt}}}})
	if err != nil || len(res.QueueIDs) != 1 {
		t.Fatalf("queue: %v %+v", err, res)
	}
	e.Server.Queue.Kick()
	return res.QueueIDs[0]
}

// waitAttempts waits until a queue entry has had n attempts.
func waitAttempts(t *testing.T, e *testenv.Env, id int64, n int) store.QueueEntry {
	t.Helper()
	var last store.QueueEntry
	testenv.WaitFor(t, 20*time.Second, "queue attempt", func() bool {
		q, err := e.Server.Ops.QueueShow(context.Background(), id)
		last = q
		return err == nil && q.Attempts >= n && q.LeaseOwner == "" || err == nil && q.Attempts >= n && q.LeaseUntil.Before(e.Clock.Now())
	})
	return last
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

var testIP = netip.MustParseAddr("127.0.0.9")

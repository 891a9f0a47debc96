package filter_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// webUser is a browser-like session on the user page.
type webUser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func signIn(t *testing.T, e *testenv.Env, addr, pass string) *webUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &webUser{t: t, base: "http://" + e.Addr["admin"], hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	resp, err := u.hc.PostForm(u.base+"/login", url.Values{"address": {addr}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %s", resp.Status)
	}
	resp, err = u.hc.Get(u.base + "/api/v1/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.CSRF == "" {
		t.Fatalf("session: %v %+v", err, s)
	}
	u.csrf = s.CSRF
	return u
}

// post submits a form of /me and returns the page it lands on.
func (u *webUser) post(v url.Values) string {
	u.t.Helper()
	v.Set("csrf", u.csrf)
	resp, err := u.hc.PostForm(u.base+"/me", v)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		u.t.Fatalf("POST /me %v: %s\n%s", v, resp.Status, b)
	}
	return string(b)
}

func (u *webUser) page() string {
	u.t.Helper()
	resp, err := u.hc.Get(u.base + "/me")
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// python runs a Python program with arguments and returns its output.
func python(t *testing.T, prog string, args ...string) string {
	t.Helper()
	py := testenv.Python(t, "smtplib", "python3")
	out, err := exec.Command(py, append([]string{"-c", prog}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

const smtplibSend = `
import smtplib, sys
host, port, sender, rcpt, subject = sys.argv[1:6]
msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nHello.\r\n" % (sender, rcpt, subject)
with smtplib.SMTP(host, int(port)) as s:
    s.sendmail(sender, [rcpt], msg)
`

const imapCount = `
import imaplib, sys
host, port, user, pw, box = sys.argv[1:6]
m = imaplib.IMAP4(host, int(port))
m.login(user, pw)
typ, _ = m.select('"%s"' % box, readonly=True)
assert typ == "OK", typ
typ, data = m.uid("SEARCH", "ALL")
print(len(data[0].split()))
m.logout()
`

// The "done means" for this part: a user turns on an away message
// and forwarding on their page; mail to them is forwarded through the
// queue and answered once; their own rule files mail into a folder that
// an IMAP client sees.
func TestUserPageForwardingAwayAndRules(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	other := p.r.AddUser(t, "other@r.test", "other password")
	u := signIn(t, p.e, "bob@example.test", "bob password")
	body := u.post(url.Values{"action": {"settings"}, "forward_to": {"rem@r.test"}, "forward_keep": {"on"},
		"away_enabled": {"on"}, "away_subject": {"Out of office"}, "away_body": {"Back on Monday, \"really\"."}})
	if !strings.Contains(body, "Settings saved") {
		t.Fatalf("settings not saved:\n%s", body)
	}
	body = u.post(url.Values{"action": {"rules"}, "rules": {`require ["fileinto", "mailbox"];
if header :contains "subject" "[team]" { fileinto :create "Team"; }`}})
	if !strings.Contains(body, "Rules saved") {
		t.Fatalf("rules not saved:\n%s", body)
	}
	// A script with an error is refused with the reason, the old one stays.
	body = u.post(url.Values{"action": {"rules"}, "rules": {`fileinto "x";`}})
	if !strings.Contains(body, "needs require") {
		t.Fatalf("bad rules accepted:\n%s", body)
	}
	page := u.page()
	for _, want := range []string{"redirect :copy &#34;rem@r.test&#34;", "vacation :days 7", `fileinto :create &#34;Team&#34;`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the page does not show %q:\n%s", want, page)
		}
	}

	host, port, _ := net.SplitHostPort(p.e.Addr["smtp"])
	python(t, smtplibSend, host, port, "other@r.test", "bob@example.test", "first")
	python(t, smtplibSend, host, port, "other@r.test", "bob@example.test", "second")
	python(t, smtplibSend, host, port, "other@r.test", "bob@example.test", "[team] standup")

	// Forwarded (kept too), answered once.
	fwd := waitCount(t, p.r, p.rem, "INBOX", 3)
	if !strings.Contains(fwd[0], "Subject: first") {
		t.Fatalf("forwarded: %q", fwd[0])
	}
	replies := waitCount(t, p.r, other, "INBOX", 1)
	if !strings.Contains(replies[0], "Subject: Out of office") || !strings.Contains(replies[0], `Back on Monday, "really".`) {
		t.Fatalf("away reply:\n%s", replies[0])
	}
	testenv.WaitFor(t, 10*time.Second, "an empty queue", func() bool {
		q, err := p.e.Store.QueueEntries(ctx, store.QueueFilter{})
		return err == nil && len(q) == 0
	})
	if n := len(messages(t, p.r, other, "INBOX")); n != 1 {
		t.Fatalf("the sender got %d away replies, want 1", n)
	}
	imapHost, imapPort, _ := net.SplitHostPort(p.e.Addr["imap"])
	for box, want := range map[string]string{"INBOX": "2", "Team": "1"} {
		if got := strings.TrimSpace(python(t, imapCount, imapHost, imapPort, "bob@example.test", "bob password", box)); got != want {
			t.Errorf("IMAP %s holds %s messages, want %s", box, got, want)
		}
	}
	// Turning both off stops them.
	u.post(url.Values{"action": {"settings"}, "forward_to": {""}, "forward_keep": {"on"}})
	python(t, smtplibSend, host, port, "x@r.test", "bob@example.test", "after")
	if sc, err := p.e.Store.ActiveSieveScript(ctx, p.bob.ID); err != nil || strings.Contains(sc.Content, "redirect :copy") ||
		strings.Contains(sc.Content, "vacation :days") {
		t.Fatalf("active script after turning off: %q, %v", sc.Content, err)
	}
	if n := len(messages(t, p.e, p.bob, "INBOX")); n != 3 {
		t.Fatalf("INBOX holds %d, want 3", n)
	}
}

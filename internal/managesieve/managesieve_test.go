package managesieve_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
	"github.com/kantorpos/kantorpos/internal/tlsprobe"
)

// conn is a raw ManageSieve client.
type conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mc := &conn{t: t, c: c, br: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if caps := mc.response(); !strings.HasPrefix(caps[len(caps)-1], "OK") {
		t.Fatalf("greeting: %q", caps)
	}
	return mc
}

// response reads lines up to and including OK, NO or BYE (a literal's
// content is read whole).
func (m *conn) response() []string {
	m.t.Helper()
	var out []string
	for {
		l, err := m.br.ReadString('\n')
		if err != nil {
			m.t.Fatalf("read: %v (so far %q)", err, out)
		}
		l = strings.TrimRight(l, "\r\n")
		var n int
		if _, err := fmt.Sscanf(l, "{%d}", &n); err == nil && strings.HasSuffix(l, "}") {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(m.br, b); err != nil {
				m.t.Fatal(err)
			}
			out = append(out, string(b[:n]))
			continue
		}
		out = append(out, l)
		if strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			return out
		}
	}
}

func (m *conn) cmd(line string) []string {
	m.t.Helper()
	if _, err := m.c.Write([]byte(line + "\r\n")); err != nil {
		m.t.Fatal(err)
	}
	return m.response()
}

func last(r []string) string { return r[len(r)-1] }

func literal(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func (m *conn) startTLS(cfg *tls.Config) []string {
	m.t.Helper()
	if r := m.cmd("STARTTLS"); !strings.HasPrefix(last(r), "OK") {
		m.t.Fatalf("STARTTLS: %q", r)
	}
	tc := tls.Client(m.c, cfg)
	if err := tc.Handshake(); err != nil {
		m.t.Fatal(err)
	}
	if tc.ConnectionState().NegotiatedProtocol != "" && tc.ConnectionState().NegotiatedProtocol != "managesieve" {
		m.t.Fatalf("ALPN %q", tc.ConnectionState().NegotiatedProtocol)
	}
	m.c, m.br = tc, bufio.NewReader(tc)
	return m.response() // capabilities again (RFC 5804 2.2)
}

func TestSession(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) { c.ManageSieve.AllowInsecureAuth = false }})
	acc := e.AddUser(t, "sam@example.test", "sam password")
	m := dial(t, e.Addr["managesieve"])
	caps := m.cmd("CAPABILITY")
	if !strings.Contains(strings.Join(caps, "\n"), `"STARTTLS"`) || !strings.Contains(strings.Join(caps, "\n"), `"SASL" ""`) {
		t.Fatalf("capabilities before TLS: %q", caps)
	}
	// No login before TLS, not even a good one.
	if r := m.cmd(`AUTHENTICATE "PLAIN" "` + plain("sam@example.test", "sam password") + `"`); !strings.HasPrefix(last(r), "NO (ENCRYPT-NEEDED)") {
		t.Fatalf("AUTHENTICATE before TLS: %q", r)
	}
	if r := m.cmd("LISTSCRIPTS"); !strings.HasPrefix(last(r), "NO") {
		t.Fatalf("LISTSCRIPTS before login: %q", r)
	}
	caps = m.startTLS(e.ClientTLS)
	all := strings.Join(caps, "\n")
	if !strings.Contains(all, `"SASL" "PLAIN"`) || strings.Contains(all, `"STARTTLS"`) || !strings.Contains(all, "vacation") {
		t.Fatalf("capabilities after TLS: %q", caps)
	}
	if r := m.cmd(`AUTHENTICATE "PLAIN" "` + plain("sam@example.test", "wrong password") + `"`); !strings.HasPrefix(last(r), "NO") {
		t.Fatalf("wrong password: %q", r)
	}
	// Without an initial response: an empty challenge, then the response.
	m.c.Write([]byte(`AUTHENTICATE "PLAIN"` + "\r\n"))
	if l, err := m.br.ReadString('\n'); err != nil || l != "\"\"\r\n" {
		t.Fatalf("challenge: %q, %v", l, err)
	}
	m.c.Write([]byte(`"` + plain("sam@example.test", "sam password") + `"` + "\r\n"))
	if r := m.response(); !strings.HasPrefix(last(r), "OK") {
		t.Fatalf("AUTHENTICATE: %q", r)
	}

	script := "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n"
	steps := []struct{ cmd, want string }{
		{`HAVESPACE "rules" 1000`, "OK"},
		{`HAVESPACE "rules" 10000000`, "NO (QUOTA/MAXSIZE)"},
		{`CHECKSCRIPT ` + literal(script), "OK"},
		{`CHECKSCRIPT "fileinto \"x\";"`, `NO "line 1: fileinto needs require`},
		{`PUTSCRIPT "rules" ` + literal(script), "OK"},
		{`PUTSCRIPT "bad" ` + literal("frob;"), `NO "line 1: unknown command`},
		{`PUTSCRIPT "other" {5}` + "\r\nkeep;", "OK"}, // a synchronising literal, as some clients send
		{`SETACTIVE "rules"`, "OK"},
		{`SETACTIVE "nope"`, "NO (NONEXISTENT)"},
		{`DELETESCRIPT "rules"`, "NO (ACTIVE)"},
		{`RENAMESCRIPT "other" "rules"`, "NO (ALREADYEXISTS)"},
		{`RENAMESCRIPT "other" "second"`, "OK"},
		{`DELETESCRIPT "second"`, "OK"},
		{`GETSCRIPT "second"`, "NO (NONEXISTENT)"},
		{`NOOP "tag1"`, `OK (TAG "tag1")`},
		{`FROB`, "NO"},
	}
	for _, s := range steps {
		if r := m.cmd(s.cmd); !strings.HasPrefix(last(r), s.want) {
			t.Fatalf("%s: %q, want %s", strings.SplitN(s.cmd, "\r\n", 2)[0], r, s.want)
		}
	}
	if r := m.cmd("LISTSCRIPTS"); len(r) != 2 || r[0] != `"rules" ACTIVE` {
		t.Fatalf("LISTSCRIPTS: %q", r)
	}
	if r := m.cmd(`GETSCRIPT "rules"`); len(r) != 2 || r[0] != script {
		t.Fatalf("GETSCRIPT: %q", r)
	}
	// The store holds what the delivery runs.
	sc, err := e.Store.ActiveSieveScript(t.Context(), acc.ID)
	if err != nil || sc.Content != script {
		t.Fatalf("active script in the store: %q, %v", sc.Content, err)
	}
	if r := m.cmd("LOGOUT"); !strings.HasPrefix(last(r), "OK") {
		t.Fatalf("LOGOUT: %q", r)
	}
}

// Hostile input: too many bad commands, a huge literal, failed logins.
func TestHostile(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.AddUser(t, "sam@example.test", "sam password")

	m := dial(t, e.Addr["managesieve"])
	var r []string
	for i := 0; i < 10; i++ {
		r = m.cmd("BOGUS")
	}
	if !strings.HasPrefix(last(r), "BYE") {
		t.Fatalf("after 10 bad commands: %q", r)
	}

	m = dial(t, e.Addr["managesieve"])
	m.c.Write([]byte("PUTSCRIPT \"x\" {99999999+}\r\n"))
	if r := m.response(); !strings.HasPrefix(last(r), "BYE") {
		t.Fatalf("huge literal: %q", r)
	}

	m = dial(t, e.Addr["managesieve"])
	if r := m.cmd(`AUTHENTICATE "PLAIN" "` + plain("sam@example.test", "sam password") + `"`); !strings.HasPrefix(last(r), "OK") {
		t.Fatalf("login (insecure auth allowed in dev): %q", r)
	}
	// A script over the size limit, sent as a literal, is refused and the
	// session stays in sync.
	big := "#" + strings.Repeat("x", 70<<10) + "\r\nkeep;"
	if r := m.cmd(`PUTSCRIPT "big" ` + literal(big)); !strings.HasPrefix(last(r), "NO (QUOTA/MAXSIZE)") {
		t.Fatalf("big script: %q", r)
	}
	if r := m.cmd("LISTSCRIPTS"); last(r) != "OK" {
		t.Fatalf("after a big script: %q", r)
	}

	// Plaintext pipelined after STARTTLS never runs inside the TLS session
	// (RFC 5804 2.2; the STARTTLS injection attack): the server closes the
	// connection, or at least drops the plaintext.
	m = dial(t, e.Addr["managesieve"])
	m.c.Write([]byte("STARTTLS\r\nLISTSCRIPTS\r\n"))
	if l, _ := m.br.ReadString('\n'); !strings.HasPrefix(l, "OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(m.c, e.ClientTLS)
	if err := tc.Handshake(); err == nil {
		m.c, m.br = tc, bufio.NewReader(tc)
		m.response() // the capabilities after TLS
		if r := m.cmd(`NOOP "after"`); !strings.HasPrefix(last(r), `OK (TAG "after")`) {
			t.Fatalf("the injected command ran: %q", r)
		}
	}

	m = dial(t, e.Addr["managesieve"])
	for i := 0; i < 3; i++ {
		r = m.cmd(`AUTHENTICATE "PLAIN" "` + plain("sam@example.test", "bad password") + `"`)
	}
	if !strings.HasPrefix(last(r), "BYE") {
		t.Fatalf("after 3 failed logins: %q", r)
	}
}

// `kantorpos status` reaches the listener through tlsprobe: STARTTLS and
// the capabilities after it.
func TestStatusProbe(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	l := tlsprobe.Listener{Name: "managesieve", Addr: e.Addr["managesieve"], Mode: tlsprobe.STARTTLS, Proto: tlsconf.ProtoManageSieve}
	cfg := e.ClientTLS.Clone()
	cfg.NextProtos = []string{"managesieve"}
	c, line, err := tlsprobe.Connect(t.Context(), l, cfg)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer c.Close()
	if !strings.HasPrefix(line, "OK") || c.ConnectionState().NegotiatedProtocol != "managesieve" {
		t.Fatalf("after TLS: %q, ALPN %q", line, c.ConnectionState().NegotiatedProtocol)
	}
}

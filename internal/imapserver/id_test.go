package imapserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

// logRecords keeps the log records of a server (its attributes as text).
type logRecords struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// find returns the records whose text starts with prefix.
func (l *logRecords) find(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// ID (RFC 2971) before and after login: our name and version back, the
// client's bounded list refused past the RFC's limits, in step afterwards.
func TestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Version = "v9.8.7" })
	pairs := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, `"f%d" "v"`, i)
		}
		return b.String()
	}
	const ours = `* ID ("name" "kantorpos" "version" "v9.8.7")`
	tests := []struct {
		name  string
		login bool
		send  string
		want  string // prefix of the tagged reply
	}{
		{"before login", false, `a ID ("name" "imaplib" "version" "3.13")` + "\r\n", "a OK"},
		{"after login", true, `a ID ("name" "imaplib" "version" "3.13")` + "\r\n", "a OK"},
		{"NIL", false, "a ID NIL\r\n", "a OK"},
		{"empty list", true, "a ID ()\r\n", "a OK"},
		{"NIL value", false, `a ID ("name" NIL)` + "\r\n", "a OK"},
		{"literal value", false, "a ID (\"name\" {4+}\r\nmutt)\r\n", "a OK"},
		{"30 pairs", false, "a ID (" + pairs(30) + ")\r\n", "a OK"},
		{"31 pairs", false, "a ID (" + pairs(31) + ")\r\n", "a BAD"},
		{"field of 31 octets", true, `a ID ("` + strings.Repeat("f", 31) + `" "v")` + "\r\n", "a BAD"},
		{"value of 1025 octets", true, "a ID (\"name\" {1025+}\r\n" + strings.Repeat("v", 1025) + ")\r\n", "a BAD"},
		{"value of 1024 octets", true, "a ID (\"name\" {1024+}\r\n" + strings.Repeat("v", 1024) + ")\r\n", "a OK"},
		{"literal field", false, "a ID ({4+}\r\nname \"x\")\r\n", "a OK"},
		{"literal field of 31 octets", false, "a ID ({31+}\r\n" + strings.Repeat("f", 31) + " \"x\")\r\n", "a BAD"},
		{"NUL in a literal value", false, "a ID (\"name\" {3+}\r\na\x00b)\r\n", "a BAD"},
		{"odd list", false, `a ID ("name")` + "\r\n", "a BAD"},
		{"atom field", false, `a ID (name "x")` + "\r\n", "a BAD"},
		{"NIL field", false, `a ID (NIL "x")` + "\r\n", "a BAD"},
		{"no argument", false, "a ID\r\n", "a BAD"},
		{"a string, not a list", false, "a ID \"x\"\r\n", "a BAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.rawTLS(t)
			if tt.login {
				r.login()
			}
			r.write(tt.send)
			var got []string
			for {
				l := r.line()
				got = append(got, l)
				if strings.HasPrefix(l, "a ") {
					break
				}
			}
			if last := got[len(got)-1]; !strings.HasPrefix(last, tt.want) {
				t.Fatalf("got %q, want %s", got, tt.want)
			}
			if tt.want == "a OK" && (len(got) != 2 || got[0] != ours) {
				t.Fatalf("got %q, want %s first", got, ours)
			}
			if _, tagged := r.cmd("NOOP"); !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("NOOP after %q: %s", tt.send, tagged)
			}
		})
	}
}

// A value literal over 1024 octets is refused before "+": the client
// never sends it.
func TestIDLongLiteralRefusedEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t)
	r.write("a ID (\"name\" {1025}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("ID with a long synchronising literal: %q", l)
	}
	r.write("b ID ({31}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "b BAD") {
		t.Fatalf("ID with a long synchronising field literal: %q", l)
	}
	r.write("c ID (\"name\" {4}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("ID with a short synchronising literal: %q", l)
	}
	r.write("mutt)\r\n")
	if l := r.expectUntagged("c ", 5*time.Second); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("ID with a literal: %q", l)
	}
	r.ok("NOOP")
}

// The client's name and version reach the log once at INFO, cleaned: a
// literal can carry CR LF, which must not forge a log line.
func TestIDLogged(t *testing.T) {
	t.Parallel()
	logs := &logRecords{}
	e := newEnv(t, logTo{logs})
	r := e.rawTLS(t)
	forged := "1.0\r\nlevel=ERROR msg=forged"
	r.write(fmt.Sprintf("a ID (\"name\" \"Thunder\\\"bird\" \"version\" {%d+}\r\n%s \"os\" \"Linux\" \"secret\" \"x\")\r\n", len(forged), forged))
	if l := r.expectUntagged("a ", 5*time.Second); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("ID: %q", l)
	}
	r.login()
	r.ok(`ID ("name" "again")`)
	info := logs.find("INFO client id")
	if len(info) != 1 {
		t.Fatalf("INFO client id records: %q", info)
	}
	want := `INFO client id name="Thunder\"bird" version="1.0??level=ERROR msg=forged" os="Linux"`
	if info[0] != want {
		t.Fatalf("logged %q, want %q", info[0], want)
	}
	if d := logs.find(`DEBUG client id name="again"`); len(d) != 1 {
		t.Fatalf("second ID: %q", logs.find("DEBUG client id"))
	}
	// A long name is cut.
	r.ok(`ID ("name" "` + strings.Repeat("n", 200) + `")`)
	if d := logs.find(`DEBUG client id name="` + strings.Repeat("n", idLogFieldMax) + `…"`); len(d) != 1 {
		t.Fatalf("long name: %q", logs.find("DEBUG client id"))
	}
}

// Python's imaplib sends ID with xatom; the answer comes back untagged.
func TestIDImaplib(t *testing.T) {
	t.Parallel()
	python := testutil.Python(t, "imaplib", "python3")
	e := newEnv(t, func(c *Config) { c.Version = "v1.0.0" })
	script := `
import imaplib, ssl, sys
port, cafile, user, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
# imaplib registers an xatom command for the state of its first use only.
imaplib.Commands["ID"] = ("NONAUTH", "AUTH", "SELECTED")
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
assert "ID" in m.capabilities, m.capabilities
typ, data = m.xatom("ID", '("name" "imaplib" "version" "%s")' % sys.version.split()[0])
assert typ == "OK", (typ, data)
data = m.untagged_responses.pop("ID")
print("before:", data[0].decode())
m.login(user, pw)
typ, data = m.xatom("ID", "NIL")
assert typ == "OK", (typ, data)
print("after:", m.untagged_responses.pop("ID")[0].decode())
m.logout()
`
	out := run(t, python, "-c", script, port(e.tlsAddr), e.certFile(t), testUser, testPass)
	for _, want := range []string{`before: ("name" "kantorpos" "version" "v1.0.0")`, `after: ("name" "kantorpos" "version" "v1.0.0")`} {
		if !strings.Contains(out, want) {
			t.Fatalf("imaplib: %s\nwant %s", out, want)
		}
	}
}

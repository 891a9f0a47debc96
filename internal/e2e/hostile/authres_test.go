package hostile

import (
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

// deliverMX sends one message to user on port 25 after HELO helo and
// returns what was stored.
func deliverMX(t *testing.T, e *testenv.Env, helo, msg string) string {
	t.Helper()
	before := len(inbox(t, e, user))
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO "+helo, "250 ")
	c.cmd("MAIL FROM:<a@ext.test>", "250")
	c.cmd("RCPT TO:<"+user+">", "250")
	c.cmd("DATA", "354")
	c.cmd(msg+".", "250")
	c.cmd("QUIT", "221")
	got := inbox(t, e, user)[before:]
	if len(got) != 1 {
		t.Fatalf("%d messages stored, want 1", len(got))
	}
	return got[0]
}

// authResults returns the Authentication-Results fields of a stored
// message's header, unfolded.
func authResults(msg string) []string {
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(hdr, "\r\n\t", " "), "\r\n") {
		name, _, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Authentication-Results") {
			out = append(out, l)
		}
	}
	return out
}

// Issue 19 item 12: the HELO argument is the client's choice of bytes; in
// our Authentication-Results field it is printable ASCII, as in Received,
// so a U+202E cannot reorder what the reader's mail program shows.
func TestHELOInAuthenticationResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.SMTP.CheckAuthentication = true })
	for _, helo := range []string{"evil\u202etset.lab", "\u202eexample.test", "x\u200fy", "a(b)\\c\"d;e"} {
		msg := deliverMX(t, e, helo, "From: a@ext.test\r\nSubject: helo\r\n\r\nx\r\n")
		ar := authResults(msg)
		if len(ar) != 1 {
			t.Fatalf("HELO %q: %d Authentication-Results fields: %q", helo, len(ar), ar)
		}
		hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
		for _, f := range strings.Split(hdr, "\r\n") {
			if !strings.HasPrefix(f, "Authentication-Results:") && !strings.HasPrefix(f, "\t") {
				continue
			}
			for i := 0; i < len(f); i++ {
				if f[i] < 0x20 && f[i] != '\t' || f[i] > 0x7e {
					t.Errorf("HELO %q: byte %#x in %q", helo, f[i], f)
					break
				}
			}
		}
		if !strings.Contains(ar[0], "smtp.helo=") {
			t.Errorf("HELO %q: no smtp.helo in %q", helo, ar[0])
		}
		t.Logf("HELO %q: %s", helo, ar[0])
	}
}

// Issue 19 item 13: an Authentication-Results field that names our host
// or any domain we host (or a name under one) as its authserv-id is the
// sender's forgery and is removed on the MX; other servers' fields stay.
func TestForgedAuthenticationResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.AddUser(t, "bob@shop.test", password)
	forged := []string{
		"example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test",
		"Example.TEST.; spf=pass smtp.mailfrom=alice@example.test",
		"mail.example.test; dkim=pass header.d=example.test",
		"shop.test; dmarc=pass header.from=shop.test",
		"mx.example.test; spf=pass",
		`"example.test" 1; dkim=pass`,
		"(comment) example.test; dkim=pass",
	}
	kept := "mx.other.test; dkim=pass header.d=other.test"
	var b strings.Builder
	for _, f := range forged {
		b.WriteString("Authentication-Results: " + f + "\r\n")
	}
	b.WriteString("Authentication-Results: " + kept + "\r\n")
	b.WriteString("From: a@ext.test\r\nSubject: forged\r\n\r\nbody\r\n")
	msg := deliverMX(t, e, "client.test", b.String())
	ar := authResults(msg)
	if len(ar) != 1 || !strings.Contains(ar[0], kept) {
		t.Errorf("Authentication-Results stored: %q, want only the one of mx.other.test", ar)
	}
	if !strings.Contains(msg, "Subject: forged\r\n") || !strings.HasSuffix(msg, "\r\n\r\nbody\r\n") {
		t.Errorf("message damaged:\n%s", msg)
	}
}

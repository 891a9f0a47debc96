package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// mimeBombs are messages that cost a naive parser its stack or its CPU
// (security.md 1.16: Dovecot CVE-2020-12100, CVE-2020-25275).
func mimeBombs() map[string]string {
	bombs := map[string]string{}
	var b strings.Builder
	// 10,000 nested multiparts.
	b.WriteString("Subject: nested\r\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeepest\r\n")
	bombs["10000 nested multiparts"] = b.String()
	// 10,000 sibling parts, the last one a message/rfc822.
	b.Reset()
	b.WriteString("Subject: wide\r\nContent-Type: multipart/mixed; boundary=\"w\"\r\n\r\n")
	for i := range 10000 {
		if i == 9999 {
			b.WriteString("--w\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n")
			continue
		}
		fmt.Fprintf(&b, "--w\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--w--\r\n")
	bombs["10000 parts"] = b.String()
	// 2,000 nested message/rfc822.
	b.Reset()
	b.WriteString("Subject: rfc822\r\n")
	for range 2000 {
		b.WriteString("Content-Type: message/rfc822\r\n\r\nSubject: in\r\n")
	}
	b.WriteString("\r\nend\r\n")
	bombs["2000 nested message/rfc822"] = b.String()
	// 10,000 RFC 2231 continuations, an unterminated boundary, bad base64.
	b.Reset()
	b.WriteString("Subject: params\r\nContent-Type: multipart/mixed; boundary=\"u\"\r\n\r\n--u\r\nContent-Type: application/octet-stream;\r\n")
	for i := range 10000 {
		fmt.Fprintf(&b, " filename*%d*=utf-8''a%d;\r\n", i, i)
	}
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--u\r\nContent-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n")
	bombs["10000 RFC 2231 continuations"] = b.String()
	return bombs
}

// Deeply nested MIME and 10,000-part messages (security.md 1.16): the
// server stores them, and FETCH BODYSTRUCTURE ENVELOPE BODY[1.1.1] answers
// fast with the nesting capped.
func TestMIMEBombs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	bombs := mimeBombs()
	names := []string{"10000 nested multiparts", "10000 parts", "2000 nested message/rfc822", "10000 RFC 2231 continuations"}
	for _, name := range names {
		c := dial(t, e, "smtp", "")
		c.greet()
		c.cmd("EHLO client.test", "250 ")
		c.cmd("MAIL FROM:<a@ext.test>", "250")
		c.cmd("RCPT TO:<"+user+">", "250")
		c.cmd("DATA", "354")
		start := time.Now()
		if r := c.cmd(bombs[name]+".", ""); !strings.HasPrefix(r, "250") {
			t.Fatalf("%s: %q", name, r)
		}
		t.Logf("%s (%d KiB): delivered in %v", name, len(bombs[name])>>10, time.Since(start).Round(time.Millisecond))
	}
	c := dial(t, e, "imaps", "")
	c.greet()
	if r := c.login(user, password); !loginOK(r) {
		t.Fatal(r)
	}
	c.cmd("s SELECT INBOX", "s OK")
	for i, name := range names {
		tag := fmt.Sprintf("f%d", i)
		start := time.Now()
		c.send(fmt.Sprintf("%s FETCH %d (BODYSTRUCTURE ENVELOPE BODY.PEEK[1.1.1] BODY.PEEK[1.MIME])\r\n", tag, i+1))
		var resp strings.Builder
		for {
			l, ok := c.line(30 * time.Second)
			if !ok {
				t.Fatalf("%s: connection closed or quiet", name)
			}
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					t.Errorf("%s: %q", name, l)
				}
				break
			}
			resp.WriteString(l)
		}
		took := time.Since(start)
		depth := parenDepth(resp.String())
		t.Logf("%s: FETCH answered in %v, %d bytes, parenthesis depth %d", name, took.Round(time.Millisecond), resp.Len(), depth)
		if took > 5*time.Second {
			t.Errorf("%s: FETCH took %v", name, took)
		}
		// msgmeta caps the nesting at 32 levels (and 1000 parts).
		if depth > 80 {
			t.Errorf("%s: BODYSTRUCTURE nested %d deep: no depth cap", name, depth)
		}
		if resp.Len() > 1<<20 {
			t.Errorf("%s: FETCH response of %d bytes", name, resp.Len())
		}
	}
}

// parenDepth is the deepest parenthesis nesting outside quoted strings.
func parenDepth(s string) int {
	depth, deepest, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '(':
			depth++
			deepest = max(deepest, depth)
		case !quoted && c == ')':
			depth--
		}
	}
	return deepest
}

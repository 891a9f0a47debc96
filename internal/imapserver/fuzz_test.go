package imapserver

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzSession drives a logged-in session with arbitrary input: the server
// must never crash and must keep serving.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"c NOOP\r\n",
		"c FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[1.2.MIME]<0.10> BINARY[1] BINARY.SIZE[1])\r\n",
		"c SEARCH OR (FROM a) NOT (BODY b) 1:*,2 UID 3:* SINCE 1-Jan-2020 $\r\n",
		"c STORE *:1 +FLAGS.SILENT (\\Seen $k)\r\nd EXPUNGE\r\n",
		"c UID MOVE 1:* Trash\r\nd COPY 1 \"&AC4ALg-\"\r\n",
		"c APPEND INBOX (\\Seen) {11+}\r\nSubject: x\r\n\r\n",
		"c LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" \"%\") RETURN (STATUS (MESSAGES SIZE) CHILDREN SPECIAL-USE)\r\n",
		"c IDLE\r\nDONE\r\nd CREATE a/b (USE (\\Sent))\r\ne RENAME a z\r\n",
		"c SEARCH RETURN (SAVE MIN) ALL\r\nd FETCH $ UID\r\n",
		"c FETCH 4294967295:0 UID\r\n",
		"c ID (\"name\" {4+}\r\nmutt \"version\" NIL)\r\nd ID NIL\r\n",
		"c GETQUOTAROOT INBOX\r\nd GETQUOTA \"\"\r\ne SETQUOTA \"\" (STORAGE 1 MESSAGE 2)\r\nf STATUS INBOX (DELETED-STORAGE)\r\n",
		"c {5}\r\n",
	} {
		f.Add(seed)
	}
	e := newEnv(f, func(c *Config) { c.AllowInsecureAuth = true; c.MaxConnsPerIP = 1000; c.MaxConnsPerAccount = 1000 })
	for i := 0; i < 3; i++ {
		e.deliver(f, "", mimeMsg)
	}
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.Dial("tcp", e.plainAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		io.WriteString(c, "a LOGIN "+testUser+` "`+testPass+"\"\r\nb SELECT INBOX\r\n"+input)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		// The server is alive: a new connection is greeted.
		c2, err := net.Dial("tcp", e.plainAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c2, buf); err != nil || !strings.HasPrefix(string(buf), "* OK") {
			t.Fatalf("server not greeting after input %q: %q %v", input, buf, err)
		}
		if n := e.panics.count().Load(); n > 0 {
			t.Fatalf("a session panicked (recovered) on input %q", input)
		}
	})
}

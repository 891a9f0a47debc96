package imapserver

import (
	"strings"
	"testing"
	"time"
)

// Raw dialogues with the engine: what a client sends, what the tagged
// reply must start with, and, after each, that the connection is still in
// step (a NOOP is answered).
func TestDialogue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AppendLimit = 1000 })
	e.deliver(t, "", testMsg("one", "x"))
	tests := []struct {
		name    string
		login   bool
		selectI bool
		send    string // one command, tag "a"
		want    string // prefix of the tagged reply
		noPlus  bool   // no continuation request may be sent
	}{
		{"unknown command before login", false, false, "a FROBNICATE x y\r\n", "a BAD", false},
		{"unknown UID command", true, true, "a UID FROB 1\r\n", "a BAD", false},
		{"SELECT before login", false, false, "a SELECT INBOX\r\n", "a BAD", false},
		{"FETCH without a mailbox", true, false, "a FETCH 1 FLAGS\r\n", "a BAD", false},
		{"LOGIN without arguments", false, false, "a LOGIN\r\n", "a BAD", false},
		{"bad sequence set", true, true, "a FETCH x FLAGS\r\n", "a BAD", false},
		{"sequence number 0", true, true, "a FETCH 0 FLAGS\r\n", "a BAD", false},
		{"unknown FETCH item", true, true, "a FETCH 1 (FLAGS FOO)\r\n", "a BAD", false},
		{"unknown STORE item", true, true, "a STORE 1 +FLAGZ (\\Seen)\r\n", "a BAD", false},
		{"unknown search key", true, true, "a SEARCH FOO\r\n", "a BAD", false},
		{"search date that does not exist", true, true, "a SEARCH SINCE 30-Feb-2020\r\n", "a BAD", false},
		{"trailing garbage", true, false, "a NOOP x\r\n", "a BAD", false},
		{"unterminated list", true, true, "a STORE 1 +FLAGS (\\Seen\r\n", "a BAD", false},
		{"synchronising literal in the wrong state", false, false, "a SELECT {5}\r\n", "a BAD", true},
		{"synchronising literal over the limit", false, false, "a LOGIN {100000}\r\n", "a BAD", true},
		{"APPEND over APPENDLIMIT", true, false, "a APPEND INBOX {5000}\r\n", "a NO [TOOBIG]", true},
		{"APPEND to a missing mailbox", true, false, "a APPEND Nowhere {5}\r\n", "a NO [TRYCREATE]", true},
		{"APPEND with an impossible date", true, false, "a APPEND INBOX \"30-Feb-2020 00:00:00 +0000\" {5}\r\n", "a BAD", true},
		{"refused APPEND, LITERAL+", true, false, "a APPEND INBOX (\\Seen \"x\") {15+}\r\nb DELETE Junk\r\n\r\n", "a BAD", true},
		{"NUL in a plain APPEND literal", true, false, "a APPEND INBOX {13+}\r\nSubject: \x00\r\n\r\n\r\n", "a BAD", true},
		{"literal8 APPEND", true, false, "a APPEND INBOX ~{13+}\r\nSubject: \x00\r\n\r\n\r\n", "a OK [APPENDUID", true},
		{"ID", false, false, "a ID (\"name\" \"test\")\r\n", "a OK", false},
		{"ID NIL", false, false, "a ID NIL\r\n", "a OK", false},
		{"ENABLE", true, false, "a ENABLE IMAP4rev2\r\n", "a OK", false},
		{"quoted string with NUL", false, false, "a LOGIN \"a\x00b\" c\r\n", "a BAD", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.rawTLS(t)
			if tt.login {
				r.login()
			}
			if tt.selectI {
				r.ok("SELECT INBOX")
			}
			r.write(tt.send)
			var got []string
			for {
				l := r.line()
				got = append(got, l)
				if strings.HasPrefix(l, "+") && tt.noPlus {
					t.Fatalf("continuation request for a refused command: %q", got)
				}
				if strings.HasPrefix(l, "a ") {
					break
				}
			}
			if last := got[len(got)-1]; !strings.HasPrefix(last, tt.want) || strings.Contains(last, "SERVERBUG") {
				t.Fatalf("got %q, want %s", got, tt.want)
			}
			// Still in step, still open.
			if u, tagged := r.cmd("NOOP"); !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("NOOP after %q: %q %s", tt.send, u, tagged)
			}
		})
	}
	// The refused APPEND above did not delete Junk.
	r := e.rawTLS(t).login()
	r.ok("STATUS Junk (MESSAGES)")
}

// A synchronising literal of an acceptable command gets "+" and is read.
func TestDialogueLiterals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t)
	r.write("a LOGIN {" + itoa(len(testUser)) + "}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	r.write(testUser + " {" + itoa(len(testPass)) + "+}\r\n" + testPass + "\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("LOGIN with literals: %q", l)
	}
	// A 64 KiB line is read; a longer one is refused whole and the
	// session goes on.
	r.write("b SEARCH TEXT " + strings.Repeat("y", 70000) + " c CREATE Injected\r\n")
	if l := r.line(); !strings.HasPrefix(l, "b BAD") {
		t.Fatalf("over-long line: %q", l)
	}
	r.ok("NOOP")
	if u := r.ok(`LIST "" Injected`); len(u) != 0 {
		t.Fatalf("rest of an over-long line ran: %q", u)
	}
	// Before login, an over-long line closes the connection.
	p := e.rawTLS(t)
	p.write("a ID (" + strings.Repeat("x ", 40000) + ")\r\n")
	if l := p.line(); !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("over-long line before login: %q", l)
	}
	if l := p.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after an over-long line before login: %q", l)
	}
}

// Ten BAD commands in a row end the session; NO replies do not count.
func TestTooManyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawTLS(t).login()
	for i := 0; i < 12; i++ {
		r.cmd("SELECT Nope") // NO
	}
	r.ok("NOOP")
	for i := 0; i < 9; i++ {
		r.cmd("BOGUS")
	}
	r.write("x BOGUS\r\n")
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for {
		l, err := r.r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimSpace(l))
	}
	if !contains(got, "* BYE") {
		t.Fatalf("after 10 BAD: %q", got)
	}
}

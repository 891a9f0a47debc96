package smtpserver

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// dialogueSeeds are whole client dialogues: valid ones, the smuggling
// matrix, relay attempts, AUTH exchanges and malformed commands.
func dialogueSeeds() []string {
	pre := "EHLO x\r\nMAIL FROM:<a@ext.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n"
	seeds := []string{
		pre + "Subject: ok\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<> BODY=8BITMIME SIZE=100\r\nRCPT TO:<team@local.test> NOTIFY=FAILURE ORCPT=rfc822;x@y\r\nBDAT 12 LAST\r\nSubject: b\r\n\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@ext.test>\r\nRCPT TO:<v@ext2.test>\r\nRCPT TO:<v%ext2.test@local.test>\r\nRCPT TO:<@local.test:v@ext2.test>\r\nDATA\r\n",
		"EHLO x\r\nAUTH PLAIN AGFsaWNlQGxvY2FsLnRlc3QAYWxpY2UtcGFzc3dvcmQtMQ==\r\nMAIL FROM:<alice@local.test>\r\nRCPT TO:<x@ext.test>\r\nDATA\r\nFrom: alice@local.test\r\n\r\nx\r\n.\r\n",
		"EHLO x\r\nAUTH LOGIN\r\nYWxpY2VAbG9jYWwudGVzdA==\r\nd3Jvbmc=\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HELO \x00\r\nMAIL FROM:<\r>\r\nVRFY root\r\nEXPN all\r\nNOOP\r\nRSET\r\nSTARTTLS\r\n",
	}
	for _, end := range []string{"\n.\n", "\n.\r\n", "\r.\n", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r\n\x00.\r\n", "\r\n.\r\r\n"} {
		seeds = append(seeds, pre+"Subject: a\r\n\r\nx"+end+smuggled)
	}
	return seeds
}

// fuzzDialogue sends in to a fresh connection, half-closes, reads every
// reply, and checks the invariants that must hold whatever the input:
//   - no panic;
//   - every stored message got its "250 ... id=" reply, and vice versa;
//   - no more messages than real ends of content in the input (<CRLF>.<CRLF>
//     or a BDAT LAST): a smuggled message would need one more;
//   - no stored message holds a bare CR or LF, or a NUL;
//   - on the MX, no remote recipient but the alias targets of our domains.
func fuzzDialogue(t *testing.T, e *env, in []byte) {
	before := len(e.st.delivered())
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	c.Write(in)
	c.(*net.TCPConn).CloseWrite()
	replies, err := io.ReadAll(br)
	if err != nil && !isReset(err) {
		t.Fatalf("reading replies: %v", err)
	}
	ok := strings.Count(string(replies), "250 2.0.0 OK id=")
	ds := e.st.delivered()
	if got := len(ds) - before; got != ok {
		t.Fatalf("%d messages stored, %d acknowledged; replies:\n%s", got, ok, replies)
	}
	if ends := countOverlapping(in, "\r\n.\r\n") + strings.Count(strings.ToUpper(string(in)), "LAST") + emptyAfterLFData(in); ok > ends {
		t.Fatalf("%d messages stored from %d ends of content", ok, ends)
	}
	for _, d := range ds[before:] {
		msg := e.st.blobContent(d)
		if hasBareLineEnding([]byte(msg)) {
			t.Fatalf("stored a bare line ending: %q", msg)
		}
		if strings.IndexByte(msg, 0) >= 0 {
			t.Fatalf("stored a NUL: %q", msg)
		}
		if e.srv.cfg.Kind == MX && d.Remote != nil {
			for _, r := range d.Remote.Rcpts {
				if r.Addr != "friend@ext.test" && r.Addr != "far@ext.test" {
					t.Fatalf("MX relayed to %s", r.Addr)
				}
			}
		}
	}
	if l := e.logs.String(); strings.Contains(l, `msg="panic in session"`) || hasLibraryPanic(l) {
		t.Fatalf("panic:\n%s", e.logs.String())
	}
}

// emptyAfterLFData counts empty messages whose DATA command line ended
// with a bare LF (go-smtp accepts that for commands): "DATA\n.\r\n" is a
// real end of content that the "\r\n.\r\n" count misses (found by the
// fuzzer: testdata/fuzz/FuzzMXDialogue/c07d7a279557a022).
func emptyAfterLFData(b []byte) int {
	n := 0
	for i := 0; i+4 <= len(b); i++ {
		if !bytes.HasPrefix(b[i:], []byte("\n.\r\n")) {
			continue
		}
		start := bytes.LastIndexByte(b[:i], '\n') + 1
		if strings.EqualFold(strings.TrimRight(string(b[start:i]), " \r"), "DATA") {
			n++
		}
	}
	return n
}

func countOverlapping(b []byte, sub string) int {
	n := 0
	for i := range b {
		if bytes.HasPrefix(b[i:], []byte(sub)) {
			n++
		}
	}
	return n
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func FuzzMXDialogue(f *testing.F) {
	for _, s := range dialogueSeeds() {
		f.Add([]byte(s))
	}
	e := newEnv(f, MX, func(c *Config, d *Deps) { c.MaxConnsPerIP = 1000; c.MaxConns = 1000 })
	f.Fuzz(func(t *testing.T, in []byte) { fuzzDialogue(t, e, in) })
}

func FuzzSubmissionDialogue(f *testing.F) {
	for _, s := range dialogueSeeds() {
		f.Add([]byte(s))
	}
	e := newEnv(f, Submission, func(c *Config, d *Deps) {
		c.AllowInsecureAuth = true
		c.MaxConnsPerIP = 1000
		c.MaxConns = 1000
	})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzDialogue(t, e, in) })
}

// hasLibraryPanic reports a panic that go-smtp recovered in its connection
// handling, except one known bug of go-smtp (v0.25.1, still in v0.26.0):
// its BDAT goroutine calls Session().Data while the connection is being
// torn down, when the session is already nil (conn.go:1059). go-smtp recovers it and closes
// that one connection; no message is stored or acknowledged (the checks
// above still hold). Any other recovered panic fails the fuzz test.
func hasLibraryPanic(log string) bool {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="smtp: panic`) {
			continue
		}
		known := strings.Contains(line, "nil pointer dereference") &&
			strings.Contains(line, "go-smtp.(*Conn).handleBdat.func1()")
		if !known {
			return true
		}
	}
	return false
}

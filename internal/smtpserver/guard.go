package smtpserver

import (
	"bytes"
	"strconv"
	"strings"
)

// httpVerbs are request methods that never start an SMTP command. A client
// that sends one is a browser or proxy talking to the wrong port
// (cross-protocol attacks such as ALPACA): the connection is closed at once
// instead of answering each header line with an error.
var httpVerbs = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "),
	[]byte("CONNECT "), []byte("OPTIONS "), []byte("DELETE "), []byte("TRACE "), []byte("PATCH "),
}

// maxGuardLine is how much of a command line the guard keeps: enough for
// the verbs above and for "BDAT <size> LAST".
const maxGuardLine = 64

// Guard modes.
const (
	guardCmd  = iota // reading command lines
	guardData        // inside DATA content, until <CRLF>.<CRLF>
	guardBdat        // inside a BDAT chunk
	guardOff         // after STARTTLS: the bytes are TLS records
)

// go-smtp's DATA reader states (mirrored so that we leave DATA exactly
// where the library does: only at <CRLF>.<CRLF>, RFC 5321 4.1.1.4).
const (
	dBeginLine = iota
	dDot
	dDotCR
	dCR
	dData
)

// cmdGuard follows the plaintext byte stream of a connection well enough to
// find the start of each command line, and reports a line that begins with
// an HTTP verb. It mirrors how go-smtp splits the stream (DATA content,
// BDAT chunks, STARTTLS); if it ever disagrees, it errs towards not looking
// (it may miss a verb, it does not see one in message content).
//
// It also notes a DATA line that starts with "." and a bare CR: go-smtp's
// reader drops those two bytes and passes the rest as content, so the
// session cannot see the bare CR in what it reads (strictReader.lostCR).
// The guard reads the plaintext only: after STARTTLS and on implicit TLS
// that variant still reaches the session without its ".\r".
type cmdGuard struct {
	// startTLS: the client sent STARTTLS (the TLS handshake is next).
	startTLS bool
	mode     int
	line     []byte // the first maxGuardLine bytes of the current line
	dstate   int
	bdatLeft uint64
	dotCR    bool // a DATA line began with "." and a bare CR
}

func newCmdGuard() *cmdGuard { return &cmdGuard{line: make([]byte, 0, maxGuardLine)} }

// scan consumes b and returns the index in b at which a forbidden command
// line starts (0 if it started in an earlier call), or -1.
func (g *cmdGuard) scan(b []byte) int {
	lineStart := 0
	if len(g.line) > 0 {
		lineStart = -1 // the current line began before b
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch g.mode {
		case guardOff:
			return -1
		case guardBdat:
			n := uint64(len(b) - i)
			if n > g.bdatLeft {
				n = g.bdatLeft
			}
			g.bdatLeft -= n
			i += int(n) - 1
			if g.bdatLeft == 0 {
				g.mode = guardCmd
				lineStart = i + 1
			}
		case guardData:
			if g.dataByte(c) {
				g.mode = guardCmd
				lineStart = i + 1
			}
		case guardCmd:
			if c == '\n' {
				g.endLine()
				lineStart = i + 1
				continue
			}
			if len(g.line) < maxGuardLine {
				g.line = append(g.line, c)
				if g.isHTTP() {
					return max(lineStart, 0)
				}
			}
		}
	}
	return -1
}

func (g *cmdGuard) isHTTP() bool {
	for _, v := range httpVerbs {
		if len(g.line) == len(v) && bytes.Equal(bytes.ToUpper(g.line), v) {
			return true
		}
	}
	return false
}

// endLine acts on a complete command line as go-smtp's parseCmd would.
func (g *cmdGuard) endLine() {
	line := strings.TrimRight(string(g.line), "\r\n")
	g.line = g.line[:0]
	upper := strings.ToUpper(line)
	switch {
	case strings.HasPrefix(upper, "STARTTLS"):
		g.mode = guardOff
		g.startTLS = upper == "STARTTLS"
	case upper == "DATA":
		g.mode = guardData
		g.dstate = dBeginLine
	case strings.HasPrefix(upper, "BDAT "):
		// RFC 3030 2: "BDAT" SP chunk-size [ SP end-marker ].
		args := strings.Fields(line[5:])
		if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
			return
		}
		n, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil || n == 0 {
			return
		}
		g.mode = guardBdat
		g.bdatLeft = n
	}
}

// dataByte advances the DATA state and reports the end of the content.
func (g *cmdGuard) dataByte(c byte) bool {
	switch g.dstate {
	case dBeginLine:
		switch c {
		case '.':
			g.dstate = dDot
		case '\r':
			g.dstate = dCR
		default:
			g.dstate = dData
		}
	case dDot:
		if c == '\r' {
			g.dstate = dDotCR
		} else {
			g.dstate = dData
		}
	case dDotCR:
		if c == '\n' {
			return true
		}
		g.dotCR = true // go-smtp drops the "." and the CR
		g.dstate = dData
	case dCR:
		if c == '\n' {
			g.dstate = dBeginLine
		} else {
			g.dstate = dData
		}
	case dData:
		if c == '\r' {
			g.dstate = dCR
		}
	}
	return false
}

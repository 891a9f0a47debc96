package crash

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// wire is a raw line-based client connection: the tests decide exactly
// which bytes go out before a kill.
type wire struct {
	c net.Conn
	r *bufio.Reader
}

func dialWire(addr string) (*wire, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &wire{c: c, r: bufio.NewReader(c)}, nil
}

func (w *wire) close() { w.c.Close() }

func (w *wire) send(s string) error {
	_, err := w.c.Write([]byte(s))
	return err
}

func (w *wire) line() (string, error) {
	l, err := w.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

// smtpReply reads a (multi-line) SMTP reply.
func (w *wire) smtpReply() (int, string, error) {
	var text []string
	for {
		l, err := w.line()
		if err != nil {
			return 0, strings.Join(text, "\n"), err
		}
		if len(l) < 3 {
			return 0, l, fmt.Errorf("short reply %q", l)
		}
		text = append(text, l)
		if len(l) == 3 || l[3] != '-' {
			code, err := strconv.Atoi(l[:3])
			return code, strings.Join(text, "\n"), err
		}
	}
}

// smtpCmd sends a command and wants a reply code.
func (w *wire) smtpCmd(cmd string, want int) error {
	if err := w.send(cmd + "\r\n"); err != nil {
		return err
	}
	code, text, err := w.smtpReply()
	if err != nil {
		return err
	}
	if code != want {
		return fmt.Errorf("%s: %s (want %d)", firstWord(cmd), text, want)
	}
	return nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// smtpOpen dials, reads the greeting, says EHLO and, with a user, AUTH PLAIN.
func smtpOpen(addr, user, pass string) (*wire, error) {
	w, err := dialWire(addr)
	if err != nil {
		return nil, err
	}
	if code, text, err := w.smtpReply(); err != nil || code != 220 {
		w.close()
		return nil, fmt.Errorf("greeting %d %q: %v", code, text, err)
	}
	if err := w.smtpCmd("EHLO client.crash.test", 250); err != nil {
		w.close()
		return nil, err
	}
	if user != "" {
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		if err := w.smtpCmd("AUTH PLAIN "+ir, 235); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// dotStuff returns msg (CRLF lines) dot-stuffed, without the final dot.
func dotStuff(msg []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.SplitAfter(msg, []byte("\r\n")) {
		if len(l) > 0 && l[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(l)
	}
	return b.Bytes()
}

// imapResult reads until the tagged reply of tag and returns its line.
func (w *wire) imapTagged(tag string) (string, error) {
	for {
		l, err := w.line()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, tag+" ") {
			return l, nil
		}
	}
}

// pop3 reads a status line; ok reports +OK.
func (w *wire) pop3Status() (string, bool, error) {
	l, err := w.line()
	if err != nil {
		return "", false, err
	}
	return l, strings.HasPrefix(l, "+OK"), nil
}

func (w *wire) pop3Cmd(cmd string) (string, error) {
	if err := w.send(cmd + "\r\n"); err != nil {
		return "", err
	}
	l, ok, err := w.pop3Status()
	if err != nil {
		return "", err
	}
	if !ok {
		return l, fmt.Errorf("%s: %s", firstWord(cmd), l)
	}
	return l, nil
}

// pop3Multi reads a multi-line response body (after +OK), unstuffed.
func (w *wire) pop3Multi() ([]byte, error) {
	var b bytes.Buffer
	for {
		l, err := w.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if l == ".\r\n" {
			return b.Bytes(), nil
		}
		if strings.HasPrefix(l, "..") {
			l = l[1:]
		}
		b.WriteString(l)
	}
}

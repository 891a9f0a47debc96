package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// smtpConn is a minimal SMTP client: one command, one reply, no
// pipelining (as smtp-source does by default), so that its own cost stays
// small and the same for every server.
type smtpConn struct {
	c  net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
	to time.Duration
}

func dialSMTP(ctx context.Context, d *dialer, addr, helo string, timeout time.Duration) (*smtpConn, error) {
	c, err := d.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	s := &smtpConn{c: c, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriterSize(c, 32<<10), to: timeout}
	if _, _, err := s.reply(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := s.cmd(250, "EHLO "+helo); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// reply reads a (multi-line) reply and returns its code and last line.
func (s *smtpConn) reply() (int, string, error) {
	s.c.SetReadDeadline(time.Now().Add(s.to))
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			return 0, "", err
		}
		if len(line) < 4 {
			return 0, "", fmt.Errorf("short reply %q", line)
		}
		code, err := strconv.Atoi(string(line[:3]))
		if err != nil {
			return 0, "", fmt.Errorf("bad reply %q", line)
		}
		if line[3] != '-' {
			return code, strings.TrimRight(string(line), "\r\n"), nil
		}
	}
}

// cmd sends a command and expects a reply with code want.
func (s *smtpConn) cmd(want int, line string) error {
	s.c.SetWriteDeadline(time.Now().Add(s.to))
	s.w.WriteString(line)
	s.w.WriteString("\r\n")
	if err := s.w.Flush(); err != nil {
		return err
	}
	code, text, err := s.reply()
	if err != nil {
		return fmt.Errorf("%s: %w", verb(line), err)
	}
	if code != want {
		return fmt.Errorf("%s: %s", verb(line), text)
	}
	return nil
}

func verb(line string) string {
	if i := strings.IndexByte(line, ' '); i > 0 {
		line = line[:i]
	}
	return line
}

// sendTimes are the moments of one transaction.
type sendTimes struct {
	dot  time.Time // the end of data was written
	done time.Time // the final reply arrived
}

// send runs MAIL, RCPT, DATA with body (CRLF lines, already dot-stuffed,
// without the terminating dot) and waits for the final 250.
func (s *smtpConn) send(from string, rcpts []string, body []byte) (sendTimes, error) {
	var t sendTimes
	if err := s.cmd(250, "MAIL FROM:<"+from+">"); err != nil {
		return t, err
	}
	for _, r := range rcpts {
		if err := s.cmd(250, "RCPT TO:<"+r+">"); err != nil {
			return t, err
		}
	}
	if err := s.cmd(354, "DATA"); err != nil {
		return t, err
	}
	s.c.SetWriteDeadline(time.Now().Add(s.to))
	s.w.Write(body)
	if !bytes.HasSuffix(body, []byte("\r\n")) {
		s.w.WriteString("\r\n")
	}
	s.w.WriteString(".\r\n")
	if err := s.w.Flush(); err != nil {
		return t, err
	}
	t.dot = time.Now()
	code, text, err := s.reply()
	t.done = time.Now()
	if err != nil {
		return t, fmt.Errorf("end of data: %w", err)
	}
	if code != 250 {
		return t, fmt.Errorf("end of data: %s", text)
	}
	return t, nil
}

// quit sends QUIT, waits for the reply and closes.
func (s *smtpConn) quit() error {
	err := s.cmd(221, "QUIT")
	s.c.Close()
	return err
}

func (s *smtpConn) close() { s.c.Close() }

// dotStuff converts text to CRLF line endings and doubles leading dots
// (RFC 5321 4.5.2).
func dotStuff(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/40)
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		var line []byte
		if i < 0 {
			line, msg = msg, nil
		} else {
			line, msg = msg[:i], msg[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// makeMessage returns a message of about size bytes (header included)
// with 76-character body lines, like smtp-source's.
func makeMessage(from, to string, seq int, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <%d.%d@loadgen.example.test>\r\nSubject: bench message %d\r\n\r\n",
		from, to, time.Now().UTC().Format(time.RFC1123Z), time.Now().UnixNano(), seq, seq)
	const line = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789+ab\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	if rest := size - b.Len(); rest > 2 {
		b.WriteString(line[:rest-2])
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

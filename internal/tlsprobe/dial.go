// Package tlsprobe connects to mail and web listeners as a client and
// reports what TLS they offer: versions, ALPN (and whether a foreign
// protocol is refused, the ALPACA defence), session tickets, legacy CBC
// suites, and the certificate. `kantorpos status` prints its reports; the
// tests use Connect to check that advertised ports really speak their
// protocol.
package tlsprobe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Mode is how a listener starts TLS.
type Mode string

const (
	Implicit Mode = "implicit" // TLS from the first byte (RFC 8314)
	STARTTLS Mode = "starttls" // STARTTLS / STLS upgrade
	None     Mode = "none"     // plaintext only (the HTTP listener)
)

// Listener is one listener to probe.
type Listener struct {
	Name  string // smtp, submission, ..., https
	Addr  string // host:port to connect to
	Mode  Mode
	Proto string // smtp, imap, pop3, managesieve or http/1.1 (its ALPN protocol)
}

// Connect dials l, starts TLS (at once, or after the protocol's STARTTLS)
// with cfg, and reads the greeting; it returns the connection and the
// first line the server sent over TLS (for HTTP, the status line of a HEAD
// request).
func Connect(ctx context.Context, l Listener, cfg *tls.Config) (*tls.Conn, string, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", l.Addr)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(15 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	raw.SetDeadline(deadline)
	if l.Mode == STARTTLS {
		if err := startTLS(raw, l.Proto); err != nil {
			raw.Close()
			return nil, "", fmt.Errorf("%s upgrade: %w", l.Proto, err)
		}
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, "", err
	}
	line, err := afterHandshake(c, l, cfg.ServerName)
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("after the handshake: %w", err)
	}
	return c, line, nil
}

// startTLS runs the plaintext part of an upgrade: greeting, STARTTLS
// (RFC 3207), STLS (RFC 2595 4) or IMAP STARTTLS (RFC 9051 6.2.1).
func startTLS(conn net.Conn, proto string) error {
	r := bufio.NewReader(conn)
	switch proto {
	case "smtp":
		if _, err := smtpReply(r, "220"); err != nil {
			return err
		}
		io.WriteString(conn, "EHLO kantorpos-probe\r\n")
		ehlo, err := smtpReply(r, "250")
		if err != nil {
			return err
		}
		if !strings.Contains(strings.ToUpper(ehlo), "STARTTLS") {
			return errors.New("STARTTLS not offered")
		}
		io.WriteString(conn, "STARTTLS\r\n")
		_, err = smtpReply(r, "220")
		return err
	case "pop3":
		if _, err := expect(r, "+OK"); err != nil {
			return err
		}
		io.WriteString(conn, "STLS\r\n")
		_, err := expect(r, "+OK")
		return err
	case "imap":
		if _, err := expect(r, "* OK"); err != nil {
			return err
		}
		io.WriteString(conn, "p1 STARTTLS\r\n")
		for {
			l, err := readLine(r)
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, "p1 ") {
				if !strings.HasPrefix(l, "p1 OK") {
					return fmt.Errorf("STARTTLS refused: %q", l)
				}
				return nil
			}
		}
	case "managesieve":
		// RFC 5804 2.2: capabilities and OK, then STARTTLS answered by OK.
		if _, err := untilOK(r); err != nil {
			return err
		}
		io.WriteString(conn, "STARTTLS\r\n")
		_, err := untilOK(r)
		return err
	}
	return fmt.Errorf("no STARTTLS for %q", proto)
}

// untilOK reads ManageSieve response lines up to the final OK.
func untilOK(r *bufio.Reader) (string, error) {
	for i := 0; i < 32; i++ {
		l, err := readLine(r)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, "OK") {
			return l, nil
		}
		if strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			return l, fmt.Errorf("refused: %q", l)
		}
	}
	return "", errors.New("no OK")
}

// afterHandshake reads what a client reads first over TLS: the greeting
// of implicit TLS, else the answer to a first command. Reading also takes
// in the session tickets a TLS 1.3 server sends after the handshake.
func afterHandshake(c *tls.Conn, l Listener, serverName string) (string, error) {
	r := bufio.NewReader(c)
	switch {
	case l.Proto == "http/1.1":
		fmt.Fprintf(c, "HEAD / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", serverName)
		return expect(r, "HTTP/1.1 ")
	case l.Mode == Implicit && l.Proto == "smtp":
		return smtpReply(r, "220")
	case l.Mode == Implicit && l.Proto == "pop3":
		return expect(r, "+OK")
	case l.Mode == Implicit && l.Proto == "imap":
		return expect(r, "* OK")
	case l.Proto == "smtp":
		io.WriteString(c, "EHLO kantorpos-probe\r\n")
		return smtpReply(r, "250")
	case l.Proto == "pop3":
		io.WriteString(c, "CAPA\r\n")
		return expect(r, "+OK")
	case l.Proto == "imap":
		io.WriteString(c, "p2 CAPABILITY\r\n")
		return expect(r, "* CAPABILITY")
	case l.Proto == "managesieve":
		return untilOK(r) // the capabilities sent again after TLS
	}
	return "", fmt.Errorf("unknown protocol %q", l.Proto)
}

// smtpReply reads a (multi-line) reply with code; it returns all lines.
func smtpReply(r *bufio.Reader, code string) (string, error) {
	var all []string
	for {
		l, err := readLine(r)
		if err != nil {
			return "", err
		}
		all = append(all, l)
		if !strings.HasPrefix(l, code) {
			return "", fmt.Errorf("want %s, got %q", code, l)
		}
		if len(l) == 3 || l[3] == ' ' {
			return strings.Join(all, "\n"), nil
		}
		if len(all) > 100 {
			return "", errors.New("reply too long")
		}
	}
}

func expect(r *bufio.Reader, prefix string) (string, error) {
	l, err := readLine(r)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(l, prefix) {
		return l, fmt.Errorf("want %q, got %q", prefix, l)
	}
	return l, nil
}

// readLine reads one line of at most 4 KiB without its CRLF.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > 4096 {
			return "", errors.New("line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

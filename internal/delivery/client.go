package delivery

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// client is our SMTP client (RFC 5321) on one connection. It is not safe
// for concurrent use; the Transport hands each connection to one delivery
// at a time. Unlike go-smtp's client it does opportunistic STARTTLS and
// pipelines MAIL/RCPT/DATA (RFC 2920).
type client struct {
	conn net.Conn // the current connection (a *tls.Conn after STARTTLS)
	raw  net.Conn // the TCP connection underneath; closing it aborts everything
	cw   *deadlineWriter
	r    *bufio.Reader
	w    *bufio.Writer
	to   Timeouts

	host string     // host name we dialled (MX, smarthost or literal)
	ip   netip.Addr // address we dialled
	key  string     // pool and limit key

	ext     map[string]string    // EHLO keywords (upper case) → parameters
	tls     *tls.ConnectionState // nil in plaintext
	msgs    int                  // transactions completed on this connection
	lastUse time.Time            // end of the last transaction
	idle    *time.Timer          // closes the connection while it waits in the pool
	noPool  bool                 // plaintext fallback: not kept for later messages
}

// deadlineWriter sets a write deadline before every write to the
// connection, so a peer that stops reading cannot stall us for longer than
// the current timeout (RFC 5321 4.5.3.2.5: data block).
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.conn.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.conn.Write(p)
}

func newClient(conn net.Conn, host string, ip netip.Addr, to Timeouts) *client {
	c := &client{host: host, ip: ip, to: to, raw: conn}
	if tc, ok := conn.(*tls.Conn); ok {
		c.raw = tc.NetConn()
	}
	c.setConn(conn)
	return c
}

// setConn (re)builds the buffered reader and writer on conn. After
// STARTTLS this discards anything the server sent in plaintext beyond its
// 220 (the caller checks that nothing was buffered).
func (c *client) setConn(conn net.Conn) {
	c.conn = conn
	c.cw = &deadlineWriter{conn: conn, timeout: c.to.Command}
	c.r = bufio.NewReaderSize(conn, 4096)
	c.w = bufio.NewWriterSize(c.cw, 32*1024)
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tls = &st
	}
}

// replyError is a reply that ended a step of the dialogue.
type replyError struct {
	Stage string // "greeting", "EHLO", "STARTTLS", "AUTH", ...
	Reply Reply
}

func (e *replyError) Error() string { return fmt.Sprintf("%s: %s", e.Stage, e.Reply) }

// tlsError marks a failed STARTTLS (refused or handshake error): the
// caller may retry the host in plaintext once every host has failed.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "STARTTLS: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// writeLine buffers one command line. Lines are built by us from validated
// parts; a CR or LF here would be a bug that lets a command be smuggled.
func (c *client) writeLine(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("%w: CR or LF in command", errProtocol)
	}
	c.w.WriteString(line)
	_, err := c.w.WriteString("\r\n")
	return err
}

func (c *client) flush(timeout time.Duration) error {
	c.cw.timeout = timeout
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (c *client) read(timeout time.Duration) (Reply, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return Reply{}, err
	}
	return readReply(c.r)
}

// cmd sends one command and reads its reply.
func (c *client) cmd(timeout time.Duration, line string) (Reply, error) {
	if err := c.writeLine(line); err != nil {
		return Reply{}, err
	}
	if err := c.flush(timeout); err != nil {
		return Reply{}, err
	}
	return c.read(timeout)
}

// greet reads the 220 greeting (RFC 5321 4.3.1).
func (c *client) greet() error {
	rep, err := c.read(c.to.Greeting)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if rep.Code != 220 {
		return &replyError{Stage: "greeting", Reply: rep}
	}
	return nil
}

// hello sends EHLO, falling back to HELO when EHLO is refused with 5xx
// (RFC 5321 4.1.4, 3.2).
func (c *client) hello(name string) error {
	rep, err := c.cmd(c.to.Command, "EHLO "+name)
	if err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	c.ext = map[string]string{}
	if rep.Code == 250 {
		for _, l := range rep.Lines[1:] {
			k, v, _ := strings.Cut(l, " ")
			c.ext[strings.ToUpper(k)] = strings.TrimSpace(v)
		}
		return nil
	}
	if !rep.Permanent() {
		return &replyError{Stage: "EHLO", Reply: rep}
	}
	rep, err = c.cmd(c.to.Command, "HELO "+name)
	if err != nil {
		return fmt.Errorf("HELO: %w", err)
	}
	if rep.Code != 250 {
		return &replyError{Stage: "HELO", Reply: rep}
	}
	return nil
}

func (c *client) has(ext string) bool { _, ok := c.ext[ext]; return ok }

// maxSize is the SIZE limit the server announced (RFC 1870), 0 if none.
func (c *client) maxSize() int64 {
	n, err := strconv.ParseInt(c.ext["SIZE"], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// rcptMax is the LIMITS RCPTMAX the server announced (RFC 9422), 0 if none.
func (c *client) rcptMax() int {
	for _, f := range strings.Fields(c.ext["LIMITS"]) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "RCPTMAX") {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// startTLS upgrades the connection (RFC 3207) and repeats EHLO, whose
// answer replaces what we knew (4.2).
func (c *client) startTLS(cfg *tls.Config, name string) error {
	rep, err := c.cmd(c.to.Command, "STARTTLS")
	if err != nil {
		return &tlsError{err: err}
	}
	if rep.Code != 220 {
		return &tlsError{err: &replyError{Stage: "STARTTLS", Reply: rep}}
	}
	// Anything after the 220 was sent before TLS: injected, never trusted
	// (the CVE-2011-0411 class, seen from the client side).
	if c.r.Buffered() > 0 {
		return &tlsError{err: fmt.Errorf("%w: %d bytes of plaintext after 220 to STARTTLS", errProtocol, c.r.Buffered())}
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.SetDeadline(time.Now().Add(c.to.Command)); err != nil {
		return &tlsError{err: err}
	}
	if err := tc.Handshake(); err != nil {
		return &tlsError{err: fmt.Errorf("handshake: %w", err)}
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return &tlsError{err: err}
	}
	c.setConn(tc)
	return c.hello(name)
}

// errAuthNoTLS: credentials are never sent in plaintext (DESIGN.md).
var errAuthNoTLS = errors.New("AUTH refused: the connection is not encrypted")

// authenticate logs in with PLAIN, or LOGIN when PLAIN is not offered
// (RFC 4954). Credentials never go over plaintext and are never logged.
func (c *client) authenticate(user, pass string) error {
	if c.tls == nil {
		return errAuthNoTLS
	}
	mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	enc := base64.StdEncoding.EncodeToString
	var rep Reply
	var err error
	switch {
	case has("PLAIN"):
		rep, err = c.cmd(c.to.Command, "AUTH PLAIN "+enc([]byte("\x00"+user+"\x00"+pass)))
	case has("LOGIN"):
		rep, err = c.cmd(c.to.Command, "AUTH LOGIN")
		for _, s := range []string{user, pass} {
			if err != nil || rep.Code != 334 {
				break
			}
			rep, err = c.cmd(c.to.Command, enc([]byte(s)))
		}
	default:
		return fmt.Errorf("AUTH: server offers neither PLAIN nor LOGIN (AUTH %q)", c.ext["AUTH"])
	}
	if err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	if rep.Code != 235 {
		return &replyError{Stage: "AUTH", Reply: rep}
	}
	return nil
}

// rset resets the session before a pooled connection is reused; any
// failure means the connection is not reused.
func (c *client) rset() error {
	rep, err := c.cmd(c.to.Command, "RSET")
	if err != nil {
		return fmt.Errorf("RSET: %w", err)
	}
	if rep.Code != 250 {
		return &replyError{Stage: "RSET", Reply: rep}
	}
	return nil
}

// quit says goodbye politely but briefly, then closes the connection.
func (c *client) quit() {
	t := c.to.Command
	if t > 5*time.Second {
		t = 5 * time.Second
	}
	c.cmd(t, "QUIT") //nolint:errcheck // best effort before close
	c.conn.Close()
}

// tlsDesc describes the TLS state for logs: "TLS1.3 TLS_AES_128_GCM_SHA256" or "none".
func (c *client) tlsDesc() (version, cipher string) {
	if c.tls == nil {
		return "none", ""
	}
	return tls.VersionName(c.tls.Version), tls.CipherSuiteName(c.tls.CipherSuite)
}

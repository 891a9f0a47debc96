package smtpserver

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// conn wraps each accepted TCP connection, beneath TLS. It
//   - clamps every deadline go-smtp sets to the session deadline, so a
//     slow-drip client cannot keep a connection forever (go-smtp's
//     ReadTimeout is per read);
//   - closes the connection right after the next reply when asked (421
//     after too many failures, 554 after a bare line ending);
//   - closes at once when a plaintext command line starts with an HTTP verb;
//   - bounds the TLS handshake after STARTTLS (HandshakeTimeout);
//   - releases its slot in the connection limits when closed.
type conn struct {
	net.Conn
	id       string
	ip       netip.Addr
	deadline time.Time
	log      *slog.Logger
	hostname string
	// hsTimeout bounds the TLS handshake after STARTTLS. hsArmed: its
	// deadline is set; hsOver: go-smtp has set a deadline since (the
	// handshake is over).
	hsTimeout       time.Duration
	hsArmed, hsOver bool

	guard        *cmdGuard // nil when off (implicit TLS)
	httpClosed   bool      // guard tripped: further reads fail
	httpRejected bool      // the 421 was sent

	closeAfterWrite atomic.Bool
	dotCR           atomic.Bool // the guard saw a DATA line "." + bare CR
	inTx            atomic.Bool // in a mail transaction (MAIL .. end of DATA)
	authFailures    atomic.Int32
	badRcpts        atomic.Int32

	closeOnce sync.Once
	release   func()
}

// writeGrace lets a final reply (421) be written after the session deadline.
const writeGrace = 10 * time.Second

func (c *conn) Read(p []byte) (int, error) {
	if c.httpClosed {
		c.rejectHTTP() // once the commands before the HTTP line are answered
		return 0, io.EOF
	}
	if c.guard != nil && c.guard.startTLS && !c.hsArmed && c.hsTimeout > 0 {
		// The first read after STARTTLS is the TLS handshake's (go-smtp
		// reads no command line after it): it must end in time.
		c.hsArmed = true
		c.Conn.SetReadDeadline(c.clamp(time.Now().Add(c.hsTimeout), 0))
	}
	n, err := c.Conn.Read(p)
	if c.hsArmed && !c.hsOver && isTimeout(err) {
		// go-smtp answers 550 and would go on in plaintext: close.
		c.log.Info("TLS handshake after STARTTLS timed out")
		c.closeAfterReply()
	}
	if c.guard != nil && n > 0 {
		k := c.guard.scan(p[:n])
		if c.guard.dotCR {
			c.dotCR.Store(true)
		}
		if k >= 0 {
			c.httpClosed = true
			c.log.Warn("HTTP request on SMTP port, closing")
			if k > 0 {
				return k, nil // let go-smtp handle the commands before it
			}
			c.rejectHTTP()
			return 0, io.EOF
		}
	}
	return n, err
}

func (c *conn) rejectHTTP() {
	if c.httpRejected {
		return
	}
	c.httpRejected = true
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c.Conn, "421 4.7.0 "+c.hostname+" HTTP request on SMTP port, closing connection\r\n")
	c.Close()
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

// closeAfterReply closes the connection once the next reply is written.
func (c *conn) closeAfterReply() { c.closeAfterWrite.Store(true) }

func (c *conn) clamp(t time.Time, grace time.Duration) time.Time {
	if c.deadline.IsZero() {
		return t
	}
	if limit := c.deadline.Add(grace); t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *conn) SetDeadline(t time.Time) error {
	c.hsOver = c.hsArmed
	if err := c.Conn.SetReadDeadline(c.clamp(t, 0)); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(c.clamp(t, writeGrace))
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.hsOver = c.hsArmed
	return c.Conn.SetReadDeadline(c.clamp(t, 0))
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t, writeGrace))
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.log.Info("disconnect")
		if c.release != nil {
			c.release()
		}
	})
	return err
}

// baseConn returns our wrapper under nc (which may be a *tls.Conn).
func baseConn(nc net.Conn) *conn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*conn)
	return c
}

// addrIP returns the IP of a net.Addr, or the zero Addr.

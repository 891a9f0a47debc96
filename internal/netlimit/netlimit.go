// Package netlimit bounds what a listener holds: connections in all and
// per client network (an IPv4 address, an IPv6 /64; see clientaddr), and
// the time a client has to complete a TLS handshake. It works on any
// net.Listener, so every protocol gets the same limits; a protocol only
// says how it refuses a connection (its greeting).
package netlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"
)

// Reason names the limit a refused connection reached.
type Reason string

const (
	// Total: the listener holds its maximum of connections.
	Total Reason = "total"
	// PerAddr: the client's network holds its maximum.
	PerAddr Reason = "per-address"
)

// Counter counts open connections in all and per client network.
type Counter struct {
	max, perAddr int // <= 0: no limit

	mu    sync.Mutex
	n     int
	byKey map[netip.Prefix]int
}

// NewCounter returns a counter allowing max connections in all and perAddr
// per client network; a limit <= 0 is no limit.
func NewCounter(max, perAddr int) *Counter {
	return &Counter{max: max, perAddr: perAddr, byKey: map[netip.Prefix]int{}}
}

// Acquire takes a slot for a client at ip. It returns the key to Release
// the slot with, or ok false and the limit reached.
func (c *Counter) Acquire(ip netip.Addr) (key netip.Prefix, r Reason, ok bool) {
	key = clientaddr.Prefix(ip)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.max > 0 && c.n >= c.max:
		return key, Total, false
	case c.perAddr > 0 && c.byKey[key] >= c.perAddr:
		return key, PerAddr, false
	}
	c.n++
	c.byKey[key]++
	return key, "", true
}

// Release frees a slot taken by Acquire.
func (c *Counter) Release(key netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.byKey[key]--; c.byKey[key] <= 0 {
		delete(c.byKey, key)
	}
}

// Open returns the number of slots taken.
func (c *Counter) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Options configure a Listener.
type Options struct {
	// Max and MaxPerAddr bound the connections held in all and per client
	// network (<= 0: no limit).
	Max, MaxPerAddr int
	// Refusal returns what a connection over a limit is told before it is
	// closed: the protocol's own refusal (SMTP "421", IMAP "* BYE", POP3
	// "-ERR"). Nil or "": the connection is closed at once (implicit TLS,
	// HTTP).
	Refusal func(Reason) string
	// Log gets a line per refused connection (nil discards).
	Log *slog.Logger
}

// maxRefusing bounds the refusals being written at once; beyond it, a
// connection over a limit is closed without a word.
const maxRefusing = 64

// refusalDeadline bounds the writing of one refusal.
const refusalDeadline = 5 * time.Second

// Listener accepts connections within its limits; a connection over a
// limit is refused (Options.Refusal) and closed, and Accept goes on to the
// next. A connection's slot is freed when it is closed.
type Listener struct {
	net.Listener
	o        Options
	count    *Counter
	refusing chan struct{}
}

// NewListener wraps ln.
func NewListener(ln net.Listener, o Options) *Listener {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, o: o, count: NewCounter(o.Max, o.MaxPerAddr), refusing: make(chan struct{}, maxRefusing)}
}

// Open returns the number of connections the listener holds.
func (l *Listener) Open() int { return l.count.Open() }

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientaddr.FromNet(c.RemoteAddr())
		key, reason, ok := l.count.Acquire(ip)
		if ok {
			return &conn{Conn: c, release: func() { l.count.Release(key) }}, nil
		}
		l.o.Log.Warn("connection refused: too many connections", "limit", string(reason), "ip", ip.String(),
			"network", key.String(), "local", c.LocalAddr().String())
		l.refuse(c, reason)
	}
}

// refuse tells c why and closes it, without holding up Accept.
func (l *Listener) refuse(c net.Conn, r Reason) {
	msg := ""
	if l.o.Refusal != nil {
		msg = l.o.Refusal(r)
	}
	if msg == "" {
		c.Close()
		return
	}
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close() // too many refusals in flight: no greeting
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetWriteDeadline(time.Now().Add(refusalDeadline))
		c.Write([]byte(msg)) //nolint:errcheck // the connection is closed either way
	}()
}

// conn frees its slot on its first Close.
type conn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

package webserver

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/kantorpos/kantorpos/internal/clientaddr"
)

// limitListener refuses connections beyond a number per client address
// (an IPv4 address or an IPv6 /64) and in all, as the mail listeners do:
// a refused connection is closed at once (HTTP has no greeting to refuse
// with), before any TLS handshake work.
type limitListener struct {
	net.Listener
	perIP, total int
	log          *slog.Logger

	mu    sync.Mutex
	n     int
	count map[netip.Prefix]int
}

func newLimitListener(ln net.Listener, perIP, total int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, perIP: perIP, total: total, log: log, count: map[netip.Prefix]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientaddr.Prefix(clientaddr.FromNet(c.RemoteAddr()))
		l.mu.Lock()
		ok := (l.total <= 0 || l.n < l.total) && (l.perIP <= 0 || l.count[key] < l.perIP)
		if ok {
			l.n++
			l.count[key]++
		}
		l.mu.Unlock()
		if !ok {
			l.log.Info("connection refused: too many connections", "ip", key.String())
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *limitListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.count[key]--; l.count[key] <= 0 {
		delete(l.count, key)
	}
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	key  netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

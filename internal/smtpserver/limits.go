package smtpserver

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/clientaddr"
)

// limitListener accepts connections within the total and per-IP limits and
// wraps each in a *conn. A connection over a limit is told "421 4.7.0" (in
// plaintext kinds) and closed without reaching go-smtp.
type limitListener struct {
	net.Listener
	srv *Server

	mu    sync.Mutex
	total int
	perIP map[netip.Prefix]int
	conns map[*conn]struct{}
}

func newLimitListener(l net.Listener, s *Server) *limitListener {
	return &limitListener{Listener: l, srv: s, perIP: map[netip.Prefix]int{}, conns: map[*conn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientaddr.FromNet(nc.RemoteAddr())
		key := clientaddr.Prefix(ip)
		l.mu.Lock()
		over := ""
		switch {
		case l.total >= l.srv.cfg.MaxConns:
			over = "total"
		case l.perIP[key] >= l.srv.cfg.MaxConnsPerIP:
			over = "per-ip"
		default:
			l.total++
			l.perIP[key]++
		}
		l.mu.Unlock()
		if over != "" {
			l.srv.log.Warn("connection refused: limit reached", "limit", over, "ip", ip.String())
			go l.refuse(nc)
			continue
		}
		c := l.srv.newConn(nc, ip)
		c.release = func() { l.remove(c, key) }
		l.mu.Lock()
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		return c, nil
	}
}

func (l *limitListener) refuse(nc net.Conn) {
	defer nc.Close()
	if l.srv.cfg.Kind == SubmissionTLS {
		return // the client expects a TLS handshake, not text
	}
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "421 4.7.0 "+l.srv.cfg.Hostname+" Too many connections, try again later\r\n")
}

func (l *limitListener) remove(c *conn, key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	l.total--
	if l.perIP[key]--; l.perIP[key] <= 0 {
		delete(l.perIP, key)
	}
}

// snapshot returns the live connections.
func (l *limitListener) snapshot() []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		out = append(out, c)
	}
	return out
}

// count returns the number of live connections (for tests and metrics).
func (l *limitListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// connIDs are short, unique per server: kind prefix and a counter.
func (s *Server) nextConnID() string {
	return s.cfg.Kind.String() + "-" + strconv.FormatUint(s.connSeq.Add(1), 36)
}

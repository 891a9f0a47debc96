package metrics

import (
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Listener counts the connections ln accepts (kantorpos_connections_total)
// and those still open (kantorpos_connections_active) under name.
func (m *Metrics) Listener(name string, ln net.Listener) net.Listener {
	return &countingListener{Listener: ln, total: m.conns.WithLabelValues(name), active: m.active.WithLabelValues(name)}
}

type countingListener struct {
	net.Listener
	total  prometheus.Counter
	active prometheus.Gauge
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	l.total.Inc()
	l.active.Inc()
	return &countingConn{Conn: c, active: l.active}, nil
}

// countingConn lowers the active gauge once, on the first Close.
type countingConn struct {
	net.Conn
	active prometheus.Gauge
	once   sync.Once
}

func (c *countingConn) Close() error {
	c.once.Do(c.active.Dec)
	return c.Conn.Close()
}

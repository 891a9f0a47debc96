package sqlstore

import (
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Dead peers. A server that vanishes (power loss, a network partition)
// sends no error: an idle connection (the listener, the lock connection,
// the pool's) would look alive for hours, and a request sent into the void
// would be retransmitted for a quarter of an hour. Keepalive probes after
// 15 s of silence, and (Linux) TCP_USER_TIMEOUT on unacknowledged data,
// turn both into an error within about half a minute, which callers see as
// ErrUnavailable.
const (
	tcpKeepIdle     = 15 * time.Second
	tcpKeepInterval = 5 * time.Second
	tcpKeepCount    = 3
	tcpUserTimeout  = 30 * time.Second
)

// dialFunc dials PostgreSQL connections with those settings.
func dialFunc(connectTimeout time.Duration) pgconn.DialFunc {
	d := &net.Dialer{
		Timeout:         connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: tcpKeepIdle, Interval: tcpKeepInterval, Count: tcpKeepCount},
		Control:         setUserTimeout,
	}
	return d.DialContext
}

package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// connect returns a ready connection to tg (greeted, EHLO done, TLS and
// AUTH as the route asks): an idle one from the pool, reset with RSET, or
// a new one, trying tg's addresses in order. It also returns the
// addresses whose STARTTLS failed. With plain set, STARTTLS is not tried.
func (t *Transport) connect(ctx context.Context, tg target, route *Route, plain bool) (*client, []netip.Addr, *failure) {
	key := connKey(tg, route)
	for {
		c, err := t.conns.acquire(ctx, key)
		if err != nil {
			return nil, nil, tempFail("4.4.1", "no connection slot for "+tg.host, err)
		}
		if c == nil {
			break // a slot is reserved for a new connection
		}
		if err := c.rset(); err == nil {
			return c, nil, nil
		}
		t.conns.discard(c) // gone stale while idle; try again
	}
	var last *failure
	var tlsFailed []netip.Addr
	for _, ip := range tg.addrs {
		c, f := t.dial(ctx, tg, ip, route, plain)
		if f == nil {
			c.key = key
			return c, tlsFailed, nil
		}
		f.host, f.ip = tg.host, ip
		t.logConnFailure(tg.host, ip, f)
		last = f
		if f.tls {
			tlsFailed = append(tlsFailed, ip)
		}
		if ctx.Err() != nil {
			break
		}
	}
	t.conns.release(key)
	return nil, tlsFailed, last
}

// dial opens one connection and brings it to the point where MAIL may be
// sent. Every failure is temporary for the message: another host, or a
// later attempt, may succeed.
func (t *Transport) dial(ctx context.Context, tg target, ip netip.Addr, route *Route, plain bool) (*client, *failure) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(tg.port))
	d := net.Dialer{Timeout: t.cfg.Timeouts.Connect}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, tempFail("4.4.1", fmt.Sprintf("cannot connect to %s [%s]", tg.host, addr), err)
	}
	// Until we return, cancelling ctx closes the connection.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	fail := func(enh string, err error) (*client, *failure) {
		conn.Close()
		f := tempFail(enh, fmt.Sprintf("%s [%s]: %v", tg.host, addr, err), err)
		var re *replyError
		if errors.As(err, &re) {
			// The remote's words, but a temporary outcome: a 5xx greeting
			// or EHLO is a reason to try another host, not to bounce.
			rep := re.Reply
			rep.Enhanced = "4" + enhancedOr(rep)[1:]
			f.reply = &rep
		}
		var te *tlsError
		f.tls = errors.As(err, &te)
		return nil, f
	}

	if route != nil && route.Mode == ModeTLS {
		// RFC 8314 3.3: the TLS handshake begins immediately.
		tc := tls.Client(conn, t.tlsConfig(tg.host, route))
		hctx, cancel := context.WithTimeout(ctx, t.cfg.Timeouts.Connect)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail("4.7.0", fmt.Errorf("TLS handshake: %w", err))
		}
		conn = tc
	}
	c := newClient(conn, tg.host, ip, t.cfg.Timeouts)
	if err := c.greet(); err != nil {
		return fail("4.4.2", err)
	}
	if err := c.hello(t.cfg.Hostname); err != nil {
		return fail("4.4.2", err)
	}
	wantTLS := !plain && c.tls == nil && (route == nil || route.Mode == ModeSTARTTLS)
	if wantTLS && c.has("STARTTLS") {
		if err := c.startTLS(t.tlsConfig(tg.host, route), t.cfg.Hostname); err != nil {
			return fail("4.7.0", err)
		}
	}
	if route != nil && route.RequireTLS && c.tls == nil {
		c.quit()
		return nil, tempFail("4.7.10", fmt.Sprintf("smarthost %s [%s] does not offer STARTTLS and the route requires TLS", tg.host, addr), nil)
	}
	if route != nil && route.Username != "" {
		if err := c.authenticate(route.Username, route.Password); err != nil {
			c.quit()
			_, f := fail("4.7.0", err)
			f.tls = false
			return nil, f
		}
	}
	c.noPool = plain
	return c, nil
}

// tlsConfig is the client configuration for one connection. Direct MX
// delivery is opportunistic: without MTA-STS or DANE there is nothing to
// verify the certificate against, so any certificate is accepted (as
// Postfix's "may" level does). Routes verify against their host name
// unless SkipVerify is set.
func (t *Transport) tlsConfig(host string, route *Route) *tls.Config {
	var cfg *tls.Config
	if t.cfg.TLSConfig != nil {
		cfg = t.cfg.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && host[0] != '[' {
		cfg.ServerName = host // SNI; IP literals send none
	}
	cfg.InsecureSkipVerify = route == nil || route.SkipVerify
	if route != nil && !route.SkipVerify && cfg.ServerName == "" {
		// Verifying a smarthost given by IP address: check the IP SAN.
		cfg.ServerName = host
	}
	return cfg
}

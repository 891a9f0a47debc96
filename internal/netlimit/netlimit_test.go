package netlimit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCounter(t *testing.T) {
	t.Parallel()
	type step struct {
		ip     string
		ok     bool
		reason Reason
	}
	for _, tc := range []struct {
		name         string
		max, perAddr int
		steps        []step
	}{
		{"IPv4 addresses count alone", 10, 2, []step{
			{"192.0.2.1", true, ""}, {"192.0.2.1", true, ""}, {"192.0.2.1", false, PerAddr},
			{"192.0.2.2", true, ""}, {"::ffff:192.0.2.1", false, PerAddr},
		}},
		{"IPv6 addresses count per /64", 10, 2, []step{
			{"2001:db8:1:2::1", true, ""}, {"2001:db8:1:2:ffff:ffff:ffff:fffe", true, ""},
			{"2001:db8:1:2:abcd::7", false, PerAddr},
			{"2001:db8:1:3::1", true, ""}, {"2001:db8:1:3::2", true, ""}, {"2001:db8:1:3::3", false, PerAddr},
			{"::1", true, ""},
		}},
		{"total", 3, 2, []step{
			{"192.0.2.1", true, ""}, {"198.51.100.1", true, ""}, {"2001:db8::1", true, ""},
			{"203.0.113.1", false, Total}, {"2001:db8:9::1", false, Total},
		}},
		{"no limits", 0, 0, []step{
			{"192.0.2.1", true, ""}, {"192.0.2.1", true, ""}, {"192.0.2.1", true, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCounter(tc.max, tc.perAddr)
			taken := 0
			for i, s := range tc.steps {
				_, r, ok := c.Acquire(netip.MustParseAddr(s.ip))
				if ok != s.ok || r != s.reason {
					t.Fatalf("step %d (%s): ok %v reason %q, want %v %q", i, s.ip, ok, r, s.ok, s.reason)
				}
				if ok {
					taken++
				}
			}
			if c.Open() != taken {
				t.Errorf("Open() = %d, want %d", c.Open(), taken)
			}
		})
	}
	// A released slot is free again, for the whole /64.
	c := NewCounter(10, 1)
	key, _, ok := c.Acquire(netip.MustParseAddr("2001:db8:5:6::1"))
	if !ok || key.String() != "2001:db8:5:6::/64" {
		t.Fatalf("acquire: %v %s", ok, key)
	}
	if _, _, ok := c.Acquire(netip.MustParseAddr("2001:db8:5:6::2")); ok {
		t.Fatal("second address of the /64 admitted over a limit of 1")
	}
	c.Release(key)
	if _, _, ok := c.Acquire(netip.MustParseAddr("2001:db8:5:6::2")); !ok {
		t.Fatal("slot not freed by Release")
	}
	if c.Open() != 1 || len(c.byKey) != 1 {
		t.Errorf("Open %d, keys %d after release and acquire", c.Open(), len(c.byKey))
	}
}

// serve accepts from l, handing accepted connections to the test.
func serve(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	out := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(out)
				return
			}
			out <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return out
}

func recv(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// readAll reads what the server sends until it closes, bounded.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 10 s (read %q)", b)
	}
	return string(b)
}

func dial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestListenerRefusesOverLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, network, host string
		max, perAddr        int
		refusal             string
		want                string
	}{
		{"per address, with a greeting", "tcp4", "127.0.0.1", 10, 2, "421 too many\r\n", "421 too many\r\n"},
		{"total, closed at once", "tcp4", "127.0.0.1", 2, 2, "", ""},
		{"IPv6 per address", "tcp6", "::1", 10, 2, "* BYE [UNAVAILABLE]\r\n", "* BYE [UNAVAILABLE]\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, err := net.Listen(tc.network, net.JoinHostPort(tc.host, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.network, err)
			}
			l := NewListener(raw, Options{Max: tc.max, MaxPerAddr: tc.perAddr, Refusal: func(Reason) string { return tc.refusal }})
			accepted := serve(t, l)
			addr := raw.Addr().String()
			dial(t, tc.network, addr)
			dial(t, tc.network, addr)
			first := recv(t, accepted)
			recv(t, accepted)
			if l.Open() != 2 {
				t.Fatalf("Open() = %d", l.Open())
			}
			over := dial(t, tc.network, addr)
			if got := readAll(t, over); got != tc.want {
				t.Fatalf("over the limit: got %q, want %q", got, tc.want)
			}
			// Closing an accepted connection frees its slot.
			first.Close()
			if l.Open() != 1 {
				t.Fatalf("Open() after a close = %d", l.Open())
			}
			c := dial(t, tc.network, addr)
			s := recv(t, accepted)
			s.Write([]byte("hello\r\n"))
			if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hello\r\n" {
				t.Fatalf("after a slot was freed: %q %v", line, err)
			}
		})
	}
}

func TestListenerRefusalIsBounded(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(raw, Options{MaxPerAddr: 1, Refusal: func(r Reason) string { return "-ERR [SYS/TEMP] " + string(r) + "\r\n" }})
	accepted := serve(t, l)
	dial(t, "tcp4", raw.Addr().String())
	recv(t, accepted)
	// Many refusals at once all end: each is written or dropped, and closed.
	var over []net.Conn
	for range 3 * maxRefusing {
		over = append(over, dial(t, "tcp4", raw.Addr().String()))
	}
	for _, c := range over {
		if got := readAll(t, c); got != "" && !strings.HasPrefix(got, "-ERR [SYS/TEMP] per-address") {
			t.Fatalf("refusal %q", got)
		}
	}
	if l.Open() != 1 {
		t.Fatalf("Open() = %d", l.Open())
	}
}

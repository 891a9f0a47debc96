package clientaddr

import (
	"net"
	"net/netip"
	"testing"
)

func TestFromNetAndPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr       net.Addr
		ip, prefix string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 25}, "192.0.2.7", "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 25}, "192.0.2.7", "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 443}, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 53}, "198.51.100.1", "198.51.100.1/32"},
	} {
		ip := FromNet(tc.addr)
		if ip.String() != tc.ip || Prefix(ip).String() != tc.prefix {
			t.Errorf("%v: %s %s, want %s %s", tc.addr, ip, Prefix(ip), tc.ip, tc.prefix)
		}
	}
	if ip := FromNet(nil); ip.IsValid() {
		t.Errorf("FromNet(nil) = %s", ip)
	}
	if p := Prefix(netip.Addr{}); p.IsValid() {
		t.Errorf("Prefix(zero) = %s", p)
	}
}

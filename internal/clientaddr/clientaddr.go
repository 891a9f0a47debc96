// Package clientaddr turns a connection's remote address into the key that
// connection and login limits count.
package clientaddr

import (
	"net"
	"net/netip"
)

// FromNet returns a's IP address, IPv4-mapped IPv6 addresses unmapped; the
// zero Addr when a has none.
func FromNet(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Prefix is the group a limit counts ip in: an IPv4 address alone, an IPv6
// address by its /64, as one host usually has a whole /64.
func Prefix(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/kantorpos/kantorpos/internal/dns"
)

// Bounds on how much of a destination we try in one attempt.
const (
	maxHosts        = 10 // MX hosts
	maxAddrsPerHost = 4  // addresses per host
)

// target is one host to try and its addresses, in the order to try them.
type target struct {
	host  string // MX host name, smarthost, or the domain (implicit MX / literal)
	pref  int
	port  int
	addrs []netip.Addr
}

// resolveMX finds the hosts that receive mail for domain (RFC 5321 5.1).
func (t *Transport) resolveMX(ctx context.Context, domain string) ([]target, *failure) {
	if strings.HasPrefix(domain, "[") {
		return t.literal(domain)
	}
	mxs, err := t.cfg.Resolver.LookupMX(ctx, domain)
	if err != nil && !dns.IsNotFound(err) {
		return nil, tempFail("4.4.3", fmt.Sprintf("temporary DNS failure looking up MX for %s", domain), err)
	}
	var hosts []target
	for _, mx := range mxs {
		h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if h == "" {
			// RFC 7505: "MX 0 ." is a null MX: the domain accepts no mail.
			// Domains with a null MX must have no other MX; if they do, the
			// null one is ignored.
			if len(mxs) == 1 {
				return nil, permFail("5.1.10", fmt.Sprintf("%s does not accept mail (null MX, RFC 7505)", domain), nil)
			}
			continue
		}
		hosts = append(hosts, target{host: h, pref: int(mx.Pref), port: t.cfg.Port})
	}
	implicit := len(hosts) == 0
	if implicit {
		// No MX: the domain itself is the implicit MX (RFC 5321 5.1).
		hosts = []target{{host: domain, port: t.cfg.Port}}
	}
	// Preference order, random among equal preference (RFC 5321 5.1).
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	slices.SortStableFunc(hosts, func(a, b target) int { return a.pref - b.pref })
	if len(hosts) > maxHosts {
		hosts = hosts[:maxHosts]
	}

	var (
		out            []target
		tempErr, nfErr error
		loopHost       string
		loopPref       = -1
	)
	for i := range hosts {
		h := &hosts[i]
		addrs, err := t.lookupAddrs(ctx, h.host)
		switch {
		case err != nil && dns.IsNotFound(err):
			nfErr = err
			continue
		case err != nil:
			tempErr = err
			continue
		}
		if t.cfg.IsLocalIP != nil && slices.ContainsFunc(addrs, t.cfg.IsLocalIP) {
			// We are one of the MX hosts: only hosts more preferred than
			// we are may be used (RFC 5321 5.1).
			loopHost, loopPref = h.host, h.pref
			break
		}
		h.addrs = addrs
		out = append(out, *h)
	}
	if loopPref >= 0 {
		out = slices.DeleteFunc(out, func(x target) bool { return x.pref >= loopPref })
		if len(out) == 0 {
			return nil, tempFail("4.4.6", fmt.Sprintf("mail for %s loops back to myself (MX host %s, preference %d, is this server)", domain, loopHost, loopPref), nil)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	switch {
	case tempErr != nil:
		return nil, tempFail("4.4.3", fmt.Sprintf("temporary DNS failure looking up the addresses of the mail servers for %s", domain), tempErr)
	case implicit:
		return nil, permFail("5.1.2", fmt.Sprintf("domain %s does not exist or has no mail server (no MX, A or AAAA record)", domain), nfErr)
	}
	return nil, permFail("5.4.4", fmt.Sprintf("none of the MX hosts of %s has an address", domain), nfErr)
}

// literal routes to an address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]"
// (RFC 5321 4.1.3).
func (t *Transport) literal(domain string) ([]target, *failure) {
	s := strings.TrimSuffix(strings.TrimPrefix(domain, "["), "]")
	var ip netip.Addr
	var err error
	if v6, ok := strings.CutPrefix(strings.ToLower(s), "ipv6:"); ok {
		ip, err = netip.ParseAddr(v6)
		if err == nil && !ip.Is6() {
			err = fmt.Errorf("not an IPv6 address")
		}
	} else {
		ip, err = netip.ParseAddr(s)
		if err == nil && !ip.Is4() {
			err = fmt.Errorf("IPv6 literals need the IPv6: tag")
		}
	}
	if err != nil {
		return nil, permFail("5.1.2", fmt.Sprintf("bad address literal %s", domain), err)
	}
	if t.cfg.IsLocalIP != nil && t.cfg.IsLocalIP(ip) {
		return nil, tempFail("4.4.6", fmt.Sprintf("mail for %s loops back to myself", domain), nil)
	}
	if t.cfg.DisableIPv6 && ip.Is6() {
		return nil, tempFail("4.4.4", fmt.Sprintf("IPv6 is disabled and %s is an IPv6 literal", domain), nil)
	}
	return []target{{host: domain, port: t.cfg.Port, addrs: []netip.Addr{ip}}}, nil
}

// resolveRoute finds the smarthost's addresses. Every failure is
// temporary: a broken route is the operator's to fix, not the sender's.
func (t *Transport) resolveRoute(ctx context.Context, r *Route) ([]target, *failure) {
	addrs, err := t.lookupAddrs(ctx, r.Host)
	if err != nil {
		return nil, tempFail("4.4.3", fmt.Sprintf("cannot resolve smarthost %s", r.Host), err)
	}
	return []target{{host: r.Host, port: r.Port, addrs: addrs}}, nil
}

// lookupAddrs returns a host's IPv4 and IPv6 addresses, or the host itself
// when it is an IP address. It never returns an empty list without error.
func (t *Transport) lookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ias, err := t.cfg.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", host, err)
	}
	var out []netip.Addr
	for _, ia := range ias {
		ip, ok := netip.AddrFromSlice(ia.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || (t.cfg.DisableIPv6 && ip.Is6()) {
			continue
		}
		if !slices.Contains(out, ip) {
			out = append(out, ip)
		}
		if len(out) == maxAddrsPerHost {
			break
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no usable address", Name: host, IsNotFound: true}
	}
	return out, nil
}

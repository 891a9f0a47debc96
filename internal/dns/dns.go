// Package dns is the resolver boundary of kantorpos. Everything that looks up
// DNS (MX routing, SPF, DKIM, DMARC, DNS checks) takes a Resolver, so tests
// can point the whole server at a DNS server on loopback.
package dns

import (
	"context"
	"errors"
	"net"
	"time"
)

// Resolver is the subset of *net.Resolver that kantorpos uses. *net.Resolver
// satisfies it, as does the client returned by New.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// New returns a Resolver. With an empty server it uses the system resolver;
// otherwise every query goes to server ("host:port", UDP with TCP fallback).
func New(server string) Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}
}

// IsNotFound reports whether err says the name or record does not exist
// (NXDOMAIN or no data), as opposed to a temporary failure.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsTemporary reports whether err is a DNS failure worth retrying later
// (SERVFAIL, timeout, network error). Not-found answers are not temporary.
func IsTemporary(err error) bool {
	if err == nil || IsNotFound(err) {
		return false
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout || !de.IsNotFound
	}
	return true
}

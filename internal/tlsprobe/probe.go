package tlsprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"time"
)

// Options of a probe.
type Options struct {
	// ServerName is sent as SNI and checked against the certificate.
	ServerName string
	// Roots verify the certificate (nil: the system's roots).
	Roots *x509.CertPool
	// Timeout of each connection (default 10s).
	Timeout time.Duration
}

// Report is what a listener offers.
type Report struct {
	Listener
	// Reachable: a TCP connection (and for STARTTLS the upgrade) worked.
	Reachable bool
	// Versions accepted and refused (TLS 1.0 to 1.3).
	Accepted, Refused []uint16
	// ALPN is the protocol negotiated when offering ours ("" if none).
	ALPN string
	// ForeignALPNRefused: offering another protocol by ALPN fails the
	// handshake (ALPACA).
	ForeignALPNRefused bool
	// SessionTickets: the server issued a session ticket.
	SessionTickets bool
	// LegacyCBC: a TLS 1.2 handshake with only CBC suites succeeded.
	LegacyCBC bool
	// CipherSuite of the best handshake.
	CipherSuite string
	// Chain the server sent; VerifyError is why it does not verify ("" ok).
	Chain       []*x509.Certificate
	VerifyError string
	// Err is why the listener could not be probed.
	Err error
}

var versions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// Probe connects to l a few times and reports what it offers.
func Probe(ctx context.Context, l Listener, o Options) Report {
	rep := Report{Listener: l}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if l.Mode == None {
		c, err := (&net.Dialer{Timeout: o.Timeout}).DialContext(ctx, "tcp", l.Addr)
		if err == nil {
			c.Close()
			rep.Reachable = true
		}
		rep.Err = err
		return rep
	}
	base := &tls.Config{ServerName: o.ServerName, InsecureSkipVerify: true, NextProtos: []string{l.Proto}} //nolint:gosec // verified below
	try := func(cfg *tls.Config) (*tls.ConnectionState, error) {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		c, _, err := Connect(cctx, l, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		cs := c.ConnectionState()
		return &cs, nil
	}
	var best *tls.ConnectionState
	var lastErr error
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		cfg := base.Clone()
		cfg.MinVersion, cfg.MaxVersion = v, v
		var tickets *ticketRecorder
		if best == nil {
			tickets = &ticketRecorder{}
			cfg.ClientSessionCache = tickets
		}
		cs, err := try(cfg)
		if err != nil {
			rep.Refused = append(rep.Refused, v)
			lastErr = err
			continue
		}
		rep.Accepted = append([]uint16{v}, rep.Accepted...)
		if best == nil {
			best = cs
			rep.SessionTickets = tickets.issued()
		}
	}
	if best == nil {
		rep.Err = lastErr
		return rep
	}
	rep.Reachable = true
	rep.ALPN = best.NegotiatedProtocol
	rep.CipherSuite = tls.CipherSuiteName(best.CipherSuite)
	rep.Chain = best.PeerCertificates
	rep.VerifyError = verify(best.PeerCertificates, o)
	foreign := base.Clone()
	foreign.NextProtos = []string{foreignProto(l.Proto)}
	_, err := try(foreign)
	rep.ForeignALPNRefused = err != nil
	cbc := base.Clone()
	cbc.MinVersion, cbc.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}
	_, err = try(cbc)
	rep.LegacyCBC = err == nil
	return rep
}

func foreignProto(p string) string {
	if p == "smtp" {
		return "imap"
	}
	return "smtp"
}

func verify(chain []*x509.Certificate, o Options) string {
	if len(chain) == 0 {
		return "no certificate"
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: o.Roots, Intermediates: inter, DNSName: o.ServerName})
	if err != nil {
		return err.Error()
	}
	return ""
}

// ticketRecorder is a ClientSessionCache that notes whether the server
// issued a ticket.
type ticketRecorder struct {
	mu   sync.Mutex
	puts int
}

func (t *ticketRecorder) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (t *ticketRecorder) Put(_ string, cs *tls.ClientSessionState) {
	if cs != nil {
		t.mu.Lock()
		t.puts++
		t.mu.Unlock()
	}
}

func (t *ticketRecorder) issued() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.puts > 0
}

// VersionName names a TLS version ("TLS1.2").
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS1.0"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return tls.VersionName(v)
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/mailauth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// DefaultDKIMRetireAfter is how long a rotated-out DKIM key stays published
// (mail signed just before a rotation may be verified days later).
const DefaultDKIMRetireAfter = 7 * 24 * time.Hour

// Published describes what DNS should say about our domains: the MX host
// name and the ports clients find through RFC 6186 SRV records.
type Published struct {
	Hostname string
	// Ports of the client services; a negative port is not offered.
	Submission, Submissions, IMAP, IMAPS, POP3, POP3S int
	// DKIMRetireAfter defaults to DefaultDKIMRetireAfter.
	DKIMRetireAfter time.Duration
}

// PublishedFromConfig derives what to publish from a configuration.
func PublishedFromConfig(c config.Config) Published {
	port := func(addr string) int {
		if addr == "" {
			return -1
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return -1
		}
		n, err := strconv.Atoi(p)
		if err != nil || n == 0 {
			return -1
		}
		return n
	}
	return Published{
		Hostname:   c.Hostname,
		Submission: port(c.Submission.Listen), Submissions: port(c.Submission.ListenTLS),
		IMAP: port(c.IMAP.Listen), IMAPS: port(c.IMAP.ListenTLS),
		POP3: port(c.POP3.Listen), POP3S: port(c.POP3.ListenTLS),
	}
}

// GenerateDKIMKeys makes the keys of a new domain (for Ops.NewDKIMKeys).
func GenerateDKIMKeys(domain string, now time.Time) ([]store.DKIMKey, error) {
	keys, err := mailauth.GenerateKeys(domain, now)
	if err != nil {
		return nil, err
	}
	out := make([]store.DKIMKey, len(keys))
	for i, k := range keys {
		out[i] = store.DKIMKey(k)
	}
	return out, nil
}

func (o *Ops) domainKeys(ctx context.Context, domain string) (string, []mailauth.DKIMKey, error) {
	d := strings.ToLower(strings.TrimSpace(domain))
	ok, err := o.Store.HasDomain(ctx, d)
	if err != nil {
		return d, nil, err
	}
	if !ok {
		return d, nil, userErr(store.ErrNotFound, "unknown domain %s", d)
	}
	keys, err := o.Store.DKIMKeys(ctx, d)
	if err != nil {
		return d, nil, err
	}
	out := make([]mailauth.DKIMKey, len(keys))
	for i, k := range keys {
		out[i] = mailauth.DKIMKey(k)
	}
	return d, out, nil
}

func (o *Ops) retireAfter() time.Duration {
	if o.Published.DKIMRetireAfter > 0 {
		return o.Published.DKIMRetireAfter
	}
	return DefaultDKIMRetireAfter
}

// DNSRecords lists the records to publish for a domain.
func (o *Ops) DNSRecords(ctx context.Context, domain string) ([]mailauth.Record, error) {
	d, keys, err := o.domainKeys(ctx, domain)
	if err != nil {
		return nil, err
	}
	p := o.Published
	if !config.IsFQDN(p.Hostname) {
		// An MX record must name a host others can look up, never
		// localhost.localdomain.
		return nil, fmt.Errorf("hostname %q is not a fully qualified host name: set hostname in the configuration (-config FILE)", p.Hostname)
	}
	return mailauth.Records(mailauth.RecordParams{
		Domain: d, Hostname: p.Hostname, Keys: keys, Now: o.now(), RetireAfter: o.retireAfter(),
		SubmissionPort: p.Submission, SubmissionsPort: p.Submissions, IMAPPort: p.IMAP, IMAPSPort: p.IMAPS,
		POP3Port: p.POP3, POP3SPort: p.POP3S,
	})
}

// CheckDNS looks the records up and says which are missing or wrong.
func (o *Ops) CheckDNS(ctx context.Context, domain string) ([]mailauth.Finding, error) {
	records, err := o.DNSRecords(ctx, domain)
	if err != nil {
		return nil, err
	}
	r := o.Resolver
	if r == nil {
		r = dns.New("")
	}
	return mailauth.CheckRecords(ctx, r, records), nil
}

// DKIMKeys lists the DKIM keys of a domain.
func (o *Ops) DKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error) {
	_, keys, err := o.domainKeys(ctx, domain)
	out := make([]store.DKIMKey, len(keys))
	for i, k := range keys {
		out[i] = store.DKIMKey(k)
	}
	return out, err
}

// RotateDKIM makes new keys for a domain. They are published at once and
// start signing after delay (time to publish them in DNS); the old keys stop
// signing then and stay published for the retire period, after which a
// later rotation drops them.
func (o *Ops) RotateDKIM(ctx context.Context, domain string, delay time.Duration) (mailauth.Rotation, error) {
	d, keys, err := o.domainKeys(ctx, domain)
	if err != nil {
		return mailauth.Rotation{}, err
	}
	if len(keys) == 0 {
		generated, err := GenerateDKIMKeys(d, o.now())
		if err != nil {
			return mailauth.Rotation{}, err
		}
		for _, k := range generated {
			if err := o.Store.AddDKIMKey(ctx, k); err != nil {
				return mailauth.Rotation{}, err
			}
		}
		return o.RotateDKIM(ctx, d, delay)
	}
	rot, err := mailauth.Rotate(keys, o.now().Add(delay), o.retireAfter())
	if err != nil {
		return rot, err
	}
	for _, k := range rot.New {
		if err := o.Store.AddDKIMKey(ctx, store.DKIMKey(k)); err != nil {
			return rot, fmt.Errorf("store new key %s: %w", k.Selector, err)
		}
	}
	for _, k := range rot.Retire {
		if err := o.Store.RetireDKIMKey(ctx, k.Domain, k.Selector, *k.Retired); err != nil {
			return rot, fmt.Errorf("retire key %s: %w", k.Selector, err)
		}
	}
	for _, k := range rot.Drop {
		if err := o.Store.DeleteDKIMKey(ctx, k.Domain, k.Selector); err != nil && !errors.Is(err, store.ErrNotFound) {
			return rot, fmt.Errorf("drop key %s: %w", k.Selector, err)
		}
	}
	o.log().Info("dkim keys rotated", "domain", d, "new", len(rot.New), "retired", len(rot.Retire), "dropped", len(rot.Drop))
	return rot, nil
}

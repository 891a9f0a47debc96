package mailauth

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/kantorpos/kantorpos/internal/dns"
)

// Status is the verdict on one published record.
type Status string

const (
	StatusOK      Status = "ok"
	StatusMissing Status = "missing" // nothing published under the name
	StatusWrong   Status = "wrong"   // something else is published
	StatusError   Status = "error"   // the lookup failed (temporarily); try again
)

// Finding says how the DNS compares with one record of Records.
type Finding struct {
	Record Record
	Status Status
	Got    []string // what the DNS answered, in the Record's Value form
	Hint   string   // what to do, for a person
}

// CheckRecords looks each record up through r and says whether it is
// published. Records are compared by meaning, not by text: an SPF record
// passes when it authorizes the MX host's addresses, a DKIM record when it
// holds our public key, a DMARC record when it parses.
func CheckRecords(ctx context.Context, r dns.Resolver, records []Record) []Finding {
	c := checker{r: r, records: records}
	out := make([]Finding, 0, len(records))
	for _, rec := range records {
		f := Finding{Record: rec}
		switch rec.Type {
		case "MX":
			c.mx(ctx, &f)
		case "A", "AAAA":
			c.addr(ctx, &f)
		case "SRV":
			c.srv(ctx, &f)
		case "CNAME":
			c.cname(ctx, &f)
		case "TXT":
			c.txt(ctx, &f)
		default:
			f.Status, f.Hint = StatusError, "unknown record type"
		}
		out = append(out, f)
	}
	return out
}

type checker struct {
	r       dns.Resolver
	records []Record
}

// lookupErr fills f for a failed lookup.
func lookupErr(f *Finding, err error) {
	if dns.IsNotFound(err) {
		f.Status, f.Hint = StatusMissing, "nothing published; add: "+zoneLine(f.Record)
		return
	}
	f.Status, f.Hint = StatusError, "lookup failed: "+err.Error()
}

func fqdn(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) + "." }

func (c checker) mx(ctx context.Context, f *Finding) {
	mxs, err := c.r.LookupMX(ctx, f.Record.Name)
	if err != nil {
		lookupErr(f, err)
		return
	}
	_, want, _ := strings.Cut(f.Record.Value, " ")
	found := false
	for _, mx := range mxs {
		f.Got = append(f.Got, strconv.Itoa(int(mx.Pref))+" "+fqdn(mx.Host))
		found = found || fqdn(mx.Host) == fqdn(want)
	}
	switch {
	case found && len(mxs) > 1:
		f.Status, f.Hint = StatusOK, "other MX hosts are listed too; they must deliver to "+want
	case found:
		f.Status = StatusOK
	case len(mxs) == 0:
		f.Status, f.Hint = StatusMissing, "no MX: add "+f.Record.Value
	default:
		f.Status, f.Hint = StatusWrong, "MX points elsewhere; mail for "+f.Record.Name+" does not reach "+want
	}
}

func (c checker) addr(ctx context.Context, f *Finding) {
	ips, err := c.r.LookupIPAddr(ctx, f.Record.Name)
	if err != nil {
		lookupErr(f, err)
		return
	}
	want, _ := netip.ParseAddr(f.Record.Value)
	for _, ip := range ips {
		a, _ := netip.AddrFromSlice(ip.IP)
		if a = a.Unmap(); a.Is4() == (f.Record.Type == "A") {
			f.Got = append(f.Got, a.String())
		}
	}
	if slices.Contains(f.Got, want.String()) {
		f.Status = StatusOK
		return
	}
	if len(f.Got) == 0 {
		f.Status, f.Hint = StatusMissing, "no "+f.Record.Type+" record; add: "+zoneLine(f.Record)
		return
	}
	f.Status, f.Hint = StatusWrong, f.Record.Name+" does not resolve to "+f.Record.Value
}

func (c checker) srv(ctx context.Context, f *Finding) {
	_, srvs, err := c.r.LookupSRV(ctx, "", "", f.Record.Name)
	if err != nil {
		lookupErr(f, err)
		return
	}
	fs := strings.Fields(f.Record.Value) // priority weight port target
	ok := false
	for _, s := range srvs {
		f.Got = append(f.Got, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, fqdn(s.Target)))
		ok = ok || (len(fs) == 4 && strconv.Itoa(int(s.Port)) == fs[2] && fqdn(s.Target) == fqdn(fs[3]))
	}
	if ok {
		f.Status = StatusOK
		return
	}
	f.Status, f.Hint = StatusWrong, "clients would connect elsewhere; publish "+f.Record.Value
}

func (c checker) cname(ctx context.Context, f *Finding) {
	target, err := c.r.LookupCNAME(ctx, f.Record.Name)
	if err != nil {
		lookupErr(f, err)
		return
	}
	f.Got = []string{fqdn(target)}
	if fqdn(target) == fqdn(f.Record.Value) {
		f.Status = StatusOK
		return
	}
	f.Status, f.Hint = StatusWrong, f.Record.Name+" should be a CNAME to "+f.Record.Value
}

func (c checker) txt(ctx context.Context, f *Finding) {
	txts, err := c.r.LookupTXT(ctx, f.Record.Name)
	if err != nil {
		lookupErr(f, err)
		return
	}
	v := f.Record.Value
	switch {
	case strings.HasPrefix(v, "v=spf1"):
		c.spf(ctx, f, selectTXT(txts, isSPF))
	case strings.HasPrefix(v, "v=DKIM1"):
		dkimCheck(f, txts)
	case strings.HasPrefix(v, "v=DMARC1"):
		dmarcCheck(f, selectTXT(txts, isDMARC))
	default:
		f.Got = txts
		f.Status = StatusWrong
		if slices.Contains(txts, v) {
			f.Status = StatusOK
		}
	}
}

func selectTXT(txts []string, keep func(string) bool) []string {
	var out []string
	for _, t := range txts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// RFC 7208 4.5: "v=spf1" followed by a space or the end.
func isSPF(t string) bool {
	return strings.EqualFold(t, "v=spf1") || (len(t) > 6 && strings.EqualFold(t[:7], "v=spf1 "))
}

func isDMARC(t string) bool {
	first, _, _ := strings.Cut(t, ";")
	k, v, _ := strings.Cut(first, "=")
	return strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1"
}

// spf checks that the published record authorizes the MX host.
func (c checker) spf(ctx context.Context, f *Finding, got []string) {
	f.Got = got
	switch {
	case len(got) == 0:
		f.Status, f.Hint = StatusMissing, "no SPF record: publish "+quoteTXT(f.Record.Value)
		return
	case len(got) > 1:
		f.Status, f.Hint = StatusWrong, "several SPF records make SPF fail with permerror (RFC 7208 3.2): keep one"
		return
	}
	host, ips := c.hostAddrs(ctx, f.Record.Name)
	if len(ips) == 0 {
		if got[0] == f.Record.Value {
			f.Status = StatusOK
		} else {
			f.Status, f.Hint = StatusWrong, "cannot resolve "+host+" to test the record; suggested: "+f.Record.Value
		}
		return
	}
	for _, ip := range ips {
		res, err := spf.CheckHostWithSender(net.IP(ip.AsSlice()), host, "postmaster@"+f.Record.Name,
			spf.WithContext(ctx), spf.WithResolver(c.r))
		if res != spf.Pass {
			f.Status = StatusWrong
			f.Hint = fmt.Sprintf("SPF does not authorize the mail server %s (%s): result %s", host, ip, res)
			if err != nil && res != spf.Fail {
				f.Hint += " (" + err.Error() + ")"
			}
			f.Hint += "; suggested: " + f.Record.Value
			return
		}
	}
	f.Status = StatusOK
	if got[0] != f.Record.Value {
		f.Hint = "differs from the suggested record, but authorizes " + host
	}
}

// hostAddrs returns the host whose addresses an SPF record at name must
// authorize (the MX host, or name itself for the HELO record) and its
// addresses: from the A/AAAA records we suggest, else from the DNS.
func (c checker) hostAddrs(ctx context.Context, name string) (string, []netip.Addr) {
	host := name
	for _, r := range c.records {
		if r.Type == "MX" && r.Name == name {
			_, h, _ := strings.Cut(r.Value, " ")
			host = strings.TrimSuffix(h, ".")
		}
	}
	var ips []netip.Addr
	for _, r := range c.records {
		if (r.Type == "A" || r.Type == "AAAA") && r.Name == host {
			if ip, err := netip.ParseAddr(r.Value); err == nil {
				ips = append(ips, ip)
			}
		}
	}
	if len(ips) > 0 {
		return host, ips
	}
	addrs, _ := c.r.LookupIPAddr(ctx, host)
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ips = append(ips, ip.Unmap())
		}
	}
	return host, ips
}

func dkimCheck(f *Finding, txts []string) {
	f.Got = txts
	switch {
	case len(txts) == 0:
		f.Status, f.Hint = StatusMissing, "publish the DKIM key: "+quoteTXT(f.Record.Value)
		return
	case len(txts) > 1:
		f.Status, f.Hint = StatusWrong, "several TXT records under a DKIM selector are ambiguous (RFC 6376 3.6.2.2): keep one"
		return
	}
	keyType := func(s string) string {
		if k := tagValue(s, "k"); k != "" {
			return k
		}
		return "rsa" // RFC 6376 3.6.1 default
	}
	got, want := txts[0], f.Record.Value
	switch {
	case tagValue(got, "p") == "":
		f.Status, f.Hint = StatusWrong, "the published key is empty (revoked); publish: "+quoteTXT(want)
	case tagValue(got, "p") != tagValue(want, "p") || keyType(got) != keyType(want):
		f.Status, f.Hint = StatusWrong, "DKIM key mismatch: the published key is not ours; publish: "+quoteTXT(want)
	default:
		f.Status = StatusOK
	}
}

func dmarcCheck(f *Finding, got []string) {
	f.Got = got
	switch {
	case len(got) == 0:
		f.Status, f.Hint = StatusMissing, "no DMARC policy: receivers cannot tell forgeries of your domain; publish "+quoteTXT(f.Record.Value)
		return
	case len(got) > 1:
		f.Status, f.Hint = StatusWrong, "several DMARC records mean no policy at all (RFC 7489 6.6.3): keep one"
		return
	}
	rec, err := dmarc.Parse(got[0])
	if err != nil {
		f.Status, f.Hint = StatusWrong, "the DMARC record does not parse ("+err.Error()+"); suggested: "+quoteTXT(f.Record.Value)
		return
	}
	f.Status = StatusOK
	if rec.Policy == dmarc.PolicyNone {
		f.Hint = "p=none only monitors; p=quarantine protects your domain"
	}
}

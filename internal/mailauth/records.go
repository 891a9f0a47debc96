package mailauth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// Record is one DNS record an administrator publishes. Name has no final
// dot; host names inside Value do (zone-file form). TXT values are the
// unquoted text.
type Record struct {
	Type    string // MX, A, AAAA, TXT, SRV, CNAME
	Name    string
	Value   string
	Purpose string
}

// RecordParams describes one mail domain served by this server.
type RecordParams struct {
	Domain   string       // the mail domain
	Hostname string       // the MX host (also our HELO name)
	IPs      []netip.Addr // the MX host's public addresses, when known
	Keys     []DKIMKey    // the domain's DKIM keys
	// Now and RetireAfter leave out keys past their publication period
	// (DKIMKey.Published). A zero Now publishes every key given.
	Now         time.Time
	RetireAfter time.Duration
	// RFC 6186 ports; 0 means the default, a negative value means the
	// service is not offered (published with target "." as RFC 6186 4 says).
	SubmissionsPort, SubmissionPort, IMAPSPort, IMAPPort, POP3SPort, POP3Port int
}

// srvService is one RFC 6186 service. Priorities make clients prefer
// implicit TLS (RFC 8314 5.1) and IMAP over POP3 (RFC 6186 3.4).
type srvService struct {
	name     string
	port     int
	def      int
	priority int
	what     string
}

// Records lists the DNS records that make the domain work: MX, the
// addresses of the MX host when known, SPF for the domain and the HELO name,
// DKIM keys, DMARC, RFC 6186 SRV records and the autoconfig/autodiscover
// names.
func Records(p RecordParams) ([]Record, error) {
	domain, err := mailaddr.ParseDomain(strings.TrimSuffix(p.Domain, "."))
	if err != nil || strings.HasPrefix(domain, "[") {
		return nil, fmt.Errorf("mailauth: records: bad domain %q", p.Domain)
	}
	host, err := mailaddr.ParseDomain(strings.TrimSuffix(p.Hostname, "."))
	if err != nil || strings.HasPrefix(host, "[") {
		return nil, fmt.Errorf("mailauth: records: bad host name %q", p.Hostname)
	}
	var rs []Record
	add := func(typ, name, value, purpose string) {
		rs = append(rs, Record{Type: typ, Name: name, Value: value, Purpose: purpose})
	}
	add("MX", domain, "10 "+host+".", "mail for "+domain+" is delivered to "+host)
	var ipTerms []string
	for _, ip := range p.IPs {
		ip = ip.Unmap()
		if ip.Is4() {
			add("A", host, ip.String(), "address of the mail server")
			ipTerms = append(ipTerms, "ip4:"+ip.String())
		} else {
			add("AAAA", host, ip.String(), "address of the mail server")
			ipTerms = append(ipTerms, "ip6:"+ip.String())
		}
	}
	// RFC 7208: the addresses first (no DNS lookup to match), then the MX
	// hosts, and a hard fail for everything else.
	spfTerms := append(append([]string{"v=spf1"}, ipTerms...), "mx", "-all")
	add("TXT", domain, strings.Join(spfTerms, " "), "SPF: only the MX hosts send mail for "+domain)
	if host != domain {
		// RFC 7208 2.3: a record for the HELO name, checked by receivers
		// and used for bounces (MAIL FROM:<>).
		add("TXT", host, "v=spf1 a -all", "SPF for the HELO name "+host+" (bounces are sent from it)")
	}
	for _, k := range p.Keys {
		if !p.Now.IsZero() && !k.Published(p.Now, p.RetireAfter) {
			continue
		}
		name, value, err := DNSRecord(k)
		if err != nil {
			return nil, err
		}
		purpose := "DKIM " + k.Algorithm + " key " + k.Selector
		if k.Retired != nil {
			purpose += " (retired " + k.Retired.UTC().Format(time.DateOnly) + "; keep until old mail is delivered)"
		}
		add("TXT", name, value, purpose)
	}
	// We sign with d=<domain> and send with MAIL FROM in <domain>, so
	// strict alignment holds for our own mail and stops look-alike
	// subdomains. quarantine rather than reject: a forwarder that breaks
	// both SPF and DKIM sends mail to Junk instead of losing it.
	add("TXT", "_dmarc."+domain, "v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@"+domain,
		"DMARC: receivers quarantine mail that fails SPF and DKIM; aggregate reports go to postmaster")
	for _, s := range []srvService{
		{"_submissions._tcp", p.SubmissionsPort, 465, 0, "message submission over TLS (RFC 8314)"},
		{"_submission._tcp", p.SubmissionPort, 587, 10, "message submission with STARTTLS"},
		{"_imaps._tcp", p.IMAPSPort, 993, 0, "IMAP over TLS"},
		{"_imap._tcp", p.IMAPPort, 143, 10, "IMAP with STARTTLS"},
		{"_pop3s._tcp", p.POP3SPort, 995, 20, "POP3 over TLS"},
		{"_pop3._tcp", p.POP3Port, 110, 30, "POP3 with STLS"},
	} {
		port, target := s.port, host+"."
		if port == 0 {
			port = s.def
		}
		value := strconv.Itoa(s.priority) + " 1 " + strconv.Itoa(port) + " " + target
		purpose := "RFC 6186: " + s.what
		if port < 0 {
			value, purpose = "0 0 0 .", "RFC 6186: "+s.what+" is not offered"
		}
		add("SRV", s.name+"."+domain, value, purpose)
	}
	add("CNAME", "autoconfig."+domain, host+".", "Thunderbird autoconfiguration")
	add("CNAME", "autodiscover."+domain, host+".", "Outlook autodiscover")
	return rs, nil
}

// Format renders records in zone-file syntax (RFC 1035 5.1) with absolute
// names, each preceded by a comment with its purpose. Long TXT values are
// split into quoted strings of at most 255 bytes.
func Format(records []Record) string {
	var b strings.Builder
	for _, r := range records {
		fmt.Fprintf(&b, "; %s\n%s\n", r.Purpose, zoneLine(r))
	}
	return b.String()
}

// zoneLine renders one record as a zone-file line.
func zoneLine(r Record) string {
	value := r.Value
	if r.Type == "TXT" {
		value = quoteTXT(value)
	}
	return r.Name + ".\tIN\t" + r.Type + "\t" + value
}

func quoteTXT(s string) string {
	var parts []string
	for {
		n := min(len(s), 255)
		part := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s[:n])
		parts = append(parts, `"`+part+`"`)
		s = s[n:]
		if s == "" {
			return strings.Join(parts, " ")
		}
	}
}

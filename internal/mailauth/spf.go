package mailauth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// SPFResult is the outcome of the SPF checks of one SMTP transaction
// (RFC 7208).
type SPFResult struct {
	// Value is the verdict for the MAIL FROM identity: pass, fail,
	// softfail, neutral, none, temperror or permerror (RFC 7208 8).
	Value authres.ResultValue
	// MailFrom is the identity checked: the reverse-path, or
	// postmaster@<HELO> when it is null (RFC 7208 2.4).
	MailFrom string
	// Domain is MailFrom's domain: the SPF-authenticated identifier that
	// DMARC aligns (RFC 7489 3.1.2). "" when there is none.
	Domain string
	// HELOValue is the verdict for the HELO identity (RFC 7208 2.3); none
	// when HELO is not a domain name.
	HELOValue authres.ResultValue
	HELO      string
	// Reason explains errors; empty on pass and plain fail.
	Reason string
}

// CheckSPF evaluates SPF for the client ip, the HELO name and the MAIL FROM
// address ("" for the null reverse-path <>). DNS goes through v.Resolver,
// bounded by v.Timeout; the RFC 7208 4.6.4 limits (10 DNS mechanisms, 2
// void lookups) give permerror.
func (v *Verifier) CheckSPF(ctx context.Context, ip netip.Addr, helo, mailFrom string) SPFResult {
	ctx, cancel := context.WithTimeout(ctx, v.timeout())
	defer cancel()

	heloDomain, err := mailaddr.ParseDomain(strings.TrimSuffix(helo, "."))
	res := SPFResult{HELOValue: authres.ResultNone, HELO: heloText(heloDomain, err, helo)}
	if err != nil || strings.HasPrefix(heloDomain, "[") {
		heloDomain = "" // an address literal or junk: no HELO identity
	}
	// RFC 7208 2.3: check HELO on its own; it is also the MAIL FROM
	// identity of bounces.
	if heloDomain != "" {
		res.HELOValue, res.Reason = v.spfCheck(ctx, ip, heloDomain, "postmaster@"+heloDomain)
	}

	if mailFrom == "" {
		// RFC 7208 2.4: the null reverse-path uses postmaster@HELO.
		res.Value, res.Domain = res.HELOValue, heloDomain
		if heloDomain != "" {
			res.MailFrom = "postmaster@" + heloDomain
		} else {
			res.Reason = "null reverse-path and no usable HELO"
		}
		return res
	}
	addr, err := mailaddr.Parse(mailFrom)
	if err != nil || addr.IsLiteral() {
		res.Value, res.Reason = authres.ResultNone, "MAIL FROM is not a usable address"
		res.MailFrom = sanitize(mailFrom)
		return res
	}
	sender := addr.String()
	if strings.Contains(addr.Local, "@") {
		sender = "postmaster@" + addr.Domain // the library splits at the first @
	}
	res.MailFrom, res.Domain = sanitize(addr.String()), addr.Domain
	hostForMacros := heloDomain
	if hostForMacros == "" {
		hostForMacros = helo
	}
	res.Value, res.Reason = v.spfCheck(ctx, ip, hostForMacros, sender)
	return res
}

// heloText is the HELO argument as it goes into Authentication-Results
// (smtp.helo) and the log: the normalised domain (A-labels) or address
// literal when it parses as one, else printable ASCII without quotes,
// backslashes, parentheses, angle brackets or semicolons, every other
// character replaced by "?", at most 100 bytes, as in our Received field.
// The client chooses these bytes: raw, a U+202E or a control character
// would reach the reader's mail program (issue 19 item 12).
func heloText(domain string, parseErr error, helo string) string {
	if parseErr == nil {
		return domain
	}
	if len(helo) > 100 {
		helo = helo[:100]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || strings.ContainsRune(`"()\<>;`, r) {
			return '?'
		}
		return r
	}, helo)
}

// spfCheck runs one check_host() (RFC 7208 4) through our resolver.
func (v *Verifier) spfCheck(ctx context.Context, ip netip.Addr, helo, sender string) (authres.ResultValue, string) {
	r, err := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, sender,
		spf.WithContext(ctx), spf.WithResolver(v.Resolver))
	value := authres.ResultValue(r)
	reason := ""
	switch r {
	case spf.TempError:
		reason = "temporary DNS failure" // details (our resolver's address) go to the log only
	case spf.PermError:
		reason = sanitize(errText(err))
	case spf.None:
		if err != nil && !errors.Is(err, spf.ErrNoResult) {
			reason = sanitize(err.Error())
		}
	}
	v.log().Debug("spf check", "ip", ip.String(), "sender", sanitize(sender), "result", string(r), "err", errText(err))
	return value, reason
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package mailauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/kantorpos/kantorpos/internal/dns"
)

// DMARCResult is the DMARC evaluation (RFC 7489) of one author domain.
type DMARCResult struct {
	// Value: pass (an aligned SPF or DKIM pass), fail, none (no policy
	// published), temperror (a DNS failure kept us from a conclusion) or
	// permerror (the policy record is malformed).
	Value authres.ResultValue
	// Domain is the RFC5322.From domain.
	Domain string
	// PolicyDomain is where the record was found: Domain or its
	// organizational domain (RFC 7489 6.6.3).
	PolicyDomain string
	// Policy is the policy that applies to Domain (p=, or sp= for a
	// subdomain of PolicyDomain), before pct= sampling.
	Policy dmarc.Policy
	// Sampled is false when pct= excluded this message, so the next
	// weaker policy was applied (RFC 7489 6.6.4).
	Sampled bool
	// Action is what the policy asks for this message.
	Action Action
	Reason string
}

// orgDomain returns the organizational domain (RFC 7489 3.2): the public
// suffix plus one label, from the Public Suffix List.
func orgDomain(d string) string {
	od, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d // d is a public suffix itself, or not a domain
	}
	return od
}

// aligned reports identifier alignment (RFC 7489 3.1): strict wants the
// same domain, relaxed the same organizational domain.
func aligned(mode dmarc.AlignmentMode, authDomain, fromDomain string) bool {
	a := strings.ToLower(strings.TrimSuffix(authDomain, "."))
	f := strings.ToLower(strings.TrimSuffix(fromDomain, "."))
	if a == "" || f == "" {
		return false
	}
	if a == f {
		return true
	}
	return mode != dmarc.AlignmentStrict && orgDomain(a) == orgDomain(f)
}

var (
	errNoDMARC   = errors.New("no DMARC record")
	errTempDMARC = errors.New("temporary DNS failure")
)

// dmarcRecord fetches and parses "_dmarc.<domain>" (RFC 7489 6.6.3: only
// records starting with "v=DMARC1" count; several of them mean none).
func (v *Verifier) dmarcRecord(ctx context.Context, domain string) (*dmarc.Record, error) {
	txts, err := v.Resolver.LookupTXT(ctx, "_dmarc."+domain)
	switch {
	case dns.IsNotFound(err):
		return nil, errNoDMARC
	case err != nil:
		v.log().Debug("dmarc lookup failed", "domain", domain, "err", err.Error())
		return nil, fmt.Errorf("%w looking up _dmarc.%s", errTempDMARC, domain)
	}
	var found []string
	for _, t := range txts {
		first, _, _ := strings.Cut(t, ";")
		k, val, _ := strings.Cut(first, "=")
		if strings.TrimSpace(k) == "v" && strings.TrimSpace(val) == "DMARC1" {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, errNoDMARC
	}
	rec, err := dmarc.Parse(found[0])
	if err != nil {
		return nil, fmt.Errorf("_dmarc.%s: %w", domain, err)
	}
	return rec, nil
}

// lookupPolicy finds the record for the author domain, falling back to its
// organizational domain (RFC 7489 6.6.3).
func (v *Verifier) lookupPolicy(ctx context.Context, domain string) (*dmarc.Record, string, error) {
	rec, err := v.dmarcRecord(ctx, domain)
	if !errors.Is(err, errNoDMARC) {
		return rec, domain, err
	}
	org := orgDomain(domain)
	if org == domain {
		return nil, domain, err
	}
	rec, err = v.dmarcRecord(ctx, org)
	return rec, org, err
}

// checkDMARC evaluates DMARC for one author domain.
//
// Temporary errors (documented choice): when nothing passes aligned and
// either the policy lookup or a check that could have produced an aligned
// pass (SPF of an aligned MAIL FROM, a DKIM signature of an aligned d=)
// failed temporarily, the verdict is temperror and the action TempFail
// (451), so that a DNS hiccup never turns into a reject or a quarantine.
// When the policy is known to be p=none (or pct= sampled it down to none),
// the action stays Accept.
func (v *Verifier) checkDMARC(ctx context.Context, from string, spfRes SPFResult, dkims []DKIMResult) DMARCResult {
	res := DMARCResult{Domain: from, Value: authres.ResultNone, Action: Accept, Sampled: true}
	rec, at, err := v.lookupPolicy(ctx, from)
	res.PolicyDomain = at
	lookupTemp := errors.Is(err, errTempDMARC)
	switch {
	case errors.Is(err, errNoDMARC):
		res.Reason = "no DMARC policy"
		return res
	case err != nil && !lookupTemp:
		// RFC 7489 6.6.3: a malformed record means no DMARC processing.
		res.Value, res.Reason = authres.ResultPermError, sanitize(err.Error())
		return res
	}

	adkim, aspf := dmarc.AlignmentMode(dmarc.AlignmentRelaxed), dmarc.AlignmentMode(dmarc.AlignmentRelaxed)
	if rec != nil {
		adkim, aspf = rec.DKIMAlignment, rec.SPFAlignment
	}
	temp := lookupTemp
	if aligned(aspf, spfRes.Domain, from) {
		switch spfRes.Value {
		case authres.ResultPass:
			res.Value, res.Reason = authres.ResultPass, "aligned SPF pass"
		case authres.ResultTempError:
			temp = true
		}
	}
	for _, d := range dkims {
		if res.Value == authres.ResultPass {
			break
		}
		if aligned(adkim, d.Domain, from) && d.Value == authres.ResultPass {
			res.Value, res.Reason = authres.ResultPass, "aligned DKIM pass"
		}
		if aligned(dmarc.AlignmentRelaxed, d.Domain, from) && d.Value == authres.ResultTempError {
			temp = true
		}
	}
	if res.Value == authres.ResultPass {
		if lookupTemp {
			// We cannot tell whether a policy exists, but nothing is
			// to enforce on an aligned pass.
			res.Value, res.Reason = authres.ResultTempError, sanitize(err.Error())
		}
		return res
	}
	if lookupTemp {
		res.Value, res.Action, res.Reason = authres.ResultTempError, TempFail, sanitize(err.Error())
		return res
	}

	res.Policy = rec.Policy
	if at != from && rec.SubdomainPolicy != "" {
		res.Policy = rec.SubdomainPolicy // RFC 7489 6.3 sp=
	}
	res.Value, res.Reason = authres.ResultFail, "no aligned SPF or DKIM pass"
	policy := res.Policy
	if rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent {
		// RFC 7489 6.6.4: outside the sample, apply the next weaker policy.
		res.Sampled = false
		switch policy {
		case dmarc.PolicyReject:
			policy = dmarc.PolicyQuarantine
		default:
			policy = dmarc.PolicyNone
		}
	}
	if temp && policy != dmarc.PolicyNone {
		res.Value, res.Action, res.Reason = authres.ResultTempError, TempFail, "temporary error in an aligned SPF or DKIM check"
		return res
	}
	switch policy {
	case dmarc.PolicyReject:
		res.Action = Reject
	case dmarc.PolicyQuarantine:
		res.Action = Quarantine
	}
	return res
}

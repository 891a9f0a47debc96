package mailauth

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/kantorpos/kantorpos/internal/dns"
)

// DKIMResult is the outcome of verifying one DKIM-Signature field.
type DKIMResult struct {
	// Value: pass, fail (bad signature or body hash, an l= tag), permerror
	// (malformed signature, missing or revoked key, rsa-sha1 (RFC 8301
	// 3.1), expired) or temperror (the key lookup failed temporarily).
	Value      authres.ResultValue
	Domain     string // d=, the SDID that DMARC aligns
	Selector   string // s=
	Algorithm  string // a=
	Identifier string // i=, or "@"+Domain
	Reason     string
}

// tempDNSError tells go-msgauth that a key lookup failed temporarily: it
// tests for net.Error with Temporary() true.
type tempDNSError struct{ err error }

func (e tempDNSError) Error() string   { return e.err.Error() }
func (e tempDNSError) Unwrap() error   { return e.err }
func (e tempDNSError) Timeout() bool   { return true }
func (e tempDNSError) Temporary() bool { return true }

// lookupTXT adapts our resolver to go-msgauth's context-free LookupTXT.
func (v *Verifier) lookupTXT(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txt, err := v.Resolver.LookupTXT(ctx, name)
		if err != nil && (dns.IsTemporary(err) || ctx.Err() != nil) {
			return nil, tempDNSError{err}
		}
		return txt, err
	}
}

// verifyDKIM verifies at most v.MaxDKIMSignatures signatures of the
// message msg (header and body) whose header fields are fields. RFC 6376
// 6.1: each signature is evaluated on its own.
func (v *Verifier) verifyDKIM(ctx context.Context, msg io.Reader, fields []field) ([]DKIMResult, error) {
	sigs := fieldsNamed(fields, "DKIM-Signature")
	if len(sigs) == 0 {
		return nil, nil
	}
	max := v.maxSignatures()
	verifs, err := dkim.VerifyWithOptions(msg, &dkim.VerifyOptions{
		LookupTXT:        v.lookupTXT(ctx),
		MaxVerifications: max,
	})
	if errors.Is(err, dkim.ErrTooManySignatures) {
		v.log().Info("dkim: too many signatures, ignoring the rest", "signatures", len(sigs), "checked", max)
		err = nil
	}
	if err != nil {
		return nil, err
	}
	now := v.clock().Now()
	results := make([]DKIMResult, 0, len(verifs))
	for i, vf := range verifs {
		r := DKIMResult{
			Domain:     sanitize(vf.Domain),
			Identifier: sanitize(vf.Identifier),
		}
		if i < len(sigs) {
			tags := sigs[i].Value()
			r.Selector = sanitize(tagValue(tags, "s"))
			r.Algorithm = sanitize(tagValue(tags, "a"))
			// go-msgauth checks x= against the wall clock; check it
			// against ours too (RFC 6376 3.5).
			if x, err := strconv.ParseInt(tagValue(tags, "x"), 10, 64); err == nil && vf.Err == nil && now.After(time.Unix(x, 0)) {
				vf.Err = errors.New("signature has expired")
				r.Value = authres.ResultPermError
			}
		}
		switch {
		case r.Value != "":
		case vf.Err == nil:
			r.Value = authres.ResultPass
		case dkim.IsTempFail(vf.Err):
			r.Value = authres.ResultTempError
		case dkim.IsPermFail(vf.Err):
			r.Value = authres.ResultPermError
		default:
			r.Value = authres.ResultFail
		}
		if vf.Err != nil {
			r.Reason = sanitize(vf.Err.Error())
		}
		if r.Value == authres.ResultTempError {
			// The resolver's error names our DNS server: keep it in the
			// log, out of the header.
			r.Reason = "key unavailable: temporary DNS failure"
		}
		v.log().Debug("dkim check", "domain", r.Domain, "selector", r.Selector, "alg", r.Algorithm,
			"result", string(r.Value), "err", errText(vf.Err))
		results = append(results, r)
	}
	return results, nil
}

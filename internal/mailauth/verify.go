package mailauth

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/dns"
)

// Action is what the SMTP server does with a message after the checks.
// Actions are ordered from mildest to most severe.
type Action int

const (
	Accept     Action = iota // deliver to the inbox
	Quarantine               // deliver to the Junk folder
	TempFail                 // answer 451 4.7.1: try again later
	Reject                   // answer 550 5.7.1
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Quarantine:
		return "quarantine"
	case TempFail:
		return "tempfail"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Verifier checks inbound mail (port 25 only) for SPF, DKIM and DMARC.
// The zero value of every field but Resolver and Hostname is usable.
type Verifier struct {
	Resolver          dns.Resolver
	Hostname          string        // our authserv-id in Authentication-Results (RFC 8601 2.5)
	Timeout           time.Duration // for all DNS work of one call; default 20s
	MaxDKIMSignatures int           // signatures verified per message; default 5
	MaxHeaderBytes    int           // default DefaultMaxHeaderBytes
	Clock             clock.Clock   // default clock.Real{}
	Log               *slog.Logger  // default: discard
}

func (v *Verifier) timeout() time.Duration {
	if v.Timeout > 0 {
		return v.Timeout
	}
	return 20 * time.Second
}

func (v *Verifier) maxSignatures() int {
	if v.MaxDKIMSignatures > 0 {
		return v.MaxDKIMSignatures
	}
	return 5
}

func (v *Verifier) maxHeader() int {
	if v.MaxHeaderBytes > 0 {
		return v.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (v *Verifier) clock() clock.Clock {
	if v.Clock != nil {
		return v.Clock
	}
	return clock.Real{}
}

func (v *Verifier) log() *slog.Logger {
	if v.Log != nil {
		return v.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ConnInfo is what the SMTP session knows about the client.
type ConnInfo struct {
	IP       netip.Addr
	HELO     string
	MailFrom string // the reverse-path without brackets; "" for <>
}

// Result is the outcome of Verify.
type Result struct {
	SPF   SPFResult
	DKIM  []DKIMResult // one per signature checked, in header order
	DMARC DMARCResult  // the most severe outcome over the author domains
	// Action combines the checks; only DMARC decides (an SPF fail on its
	// own, which forwarding causes, does not reject).
	Action Action
	// AuthenticationResults is the complete header field to prepend,
	// "Authentication-Results: <Hostname>; ...\r\n", folded.
	AuthenticationResults string
	// Forged counts Authentication-Results fields in the message that
	// claim our Hostname (or a name under it); remove them, and those
	// that claim any of our domains, with StripForged before storing.
	Forged int
}

// Verify runs SPF, DKIM and DMARC for a message received on port 25 and
// says what to do with it. msg is the message as received (header and
// body, CRLF); only its header is held in memory. Temporary DNS trouble is
// reported in the results and in Action, never as an error: the error is
// for reading msg, or ErrHeaderTooLong.
//
// msg may be the message as it arrives: SPF and the DKIM key lookups start
// once the header is read, and the DMARC lookups get their own Timeout once
// the body has been read, however long it took to arrive.
func (v *Verifier) Verify(parent context.Context, conn ConnInfo, msg io.Reader) (*Result, error) {
	ctx, cancel := context.WithTimeout(parent, v.timeout())
	defer cancel()
	start := v.clock().Now()

	br := bufio.NewReader(msg)
	header, err := readHeader(br, v.maxHeader())
	if err != nil {
		return nil, fmt.Errorf("mailauth: verify: %w", err)
	}
	fields := splitFields(header)
	res := &Result{}
	for _, f := range fields {
		if isForged(f, v.Hostname) {
			res.Forged++
		}
	}

	// SPF needs only DNS: run it while DKIM reads the body.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.SPF = v.CheckSPF(ctx, conn.IP, conn.HELO, conn.MailFrom)
	}()
	res.DKIM, err = v.verifyDKIM(ctx, io.MultiReader(bytes.NewReader(header), br), fields)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("mailauth: verify dkim: %w", err)
	}

	ctx, cancelDMARC := context.WithTimeout(parent, v.timeout())
	defer cancelDMARC()
	domains, ferr := authorDomains(fields)
	if ferr != nil {
		// RFC 7489 6.6.1: zero or several From fields, or no author
		// domain, is a policy failure; RFC 5322 3.6 forbids such a message.
		res.DMARC = DMARCResult{Value: authres.ResultFail, Action: Reject, Reason: ferr.Error()}
	}
	for i, d := range domains {
		// RFC 7489 6.6.1: several author domains are each evaluated; the
		// most severe outcome wins.
		r := v.checkDMARC(ctx, d, res.SPF, res.DKIM)
		if i == 0 || r.Action > res.DMARC.Action {
			res.DMARC = r
		}
	}
	res.Action = res.DMARC.Action
	res.AuthenticationResults = v.formatResults(res)

	v.log().Info("mail authentication",
		"ip", conn.IP.String(), "helo", sanitize(conn.HELO), "mail_from", sanitize(conn.MailFrom),
		"spf", string(res.SPF.Value), "dkim", dkimSummary(res.DKIM),
		"dmarc", string(res.DMARC.Value), "from_domain", res.DMARC.Domain,
		"action", res.Action.String(), "forged_ar", res.Forged,
		"took", v.clock().Now().Sub(start))
	return res, nil
}

func dkimSummary(rs []DKIMResult) string {
	if len(rs) == 0 {
		return string(authres.ResultNone)
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r.Value) + "(" + r.Domain + ")"
	}
	return strings.Join(parts, ",")
}

// formatResults builds the Authentication-Results field (RFC 8601), one
// result per folded line.
func (v *Verifier) formatResults(res *Result) string {
	var rs []authres.Result
	rs = append(rs, &authres.SPFResult{Value: res.SPF.Value, Reason: res.SPF.Reason, From: res.SPF.MailFrom})
	if res.SPF.HELO != "" && res.SPF.MailFrom != "postmaster@"+res.SPF.HELO {
		rs = append(rs, &authres.SPFResult{Value: res.SPF.HELOValue, Helo: res.SPF.HELO})
	}
	if len(res.DKIM) == 0 {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range res.DKIM {
		rs = append(rs, &authres.GenericResult{Method: "dkim", Value: d.Value, Params: map[string]string{
			"reason": d.Reason, "header.d": d.Domain, "header.s": d.Selector, "header.a": d.Algorithm,
		}})
	}
	rs = append(rs, &authres.DMARCResult{Value: res.DMARC.Value, Reason: res.DMARC.Reason, From: res.DMARC.Domain})

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(sanitize(v.Hostname))
	for _, r := range rs {
		s := authres.Format("", []authres.Result{r})
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimSpace(strings.TrimPrefix(s, ";")))
	}
	b.WriteString("\r\n")
	return b.String()
}

// Reply returns the SMTP reply code, enhanced status code (RFC 3463) and
// text for a message that must not be accepted; ok is false for Accept and
// Quarantine, which are delivered (250). The text names the cause without
// echoing anything the client sent except the From domain.
func (r *Result) Reply() (code int, enhanced [3]int, text string, ok bool) {
	switch r.Action {
	case Reject:
		if r.DMARC.Domain == "" {
			return 550, [3]int{5, 7, 1}, "Message needs exactly one From field with a valid address (RFC 5322 3.6)", true
		}
		return 550, [3]int{5, 7, 1}, "Message rejected by the DMARC policy of " + strings.ToLower(r.DMARC.Domain), true
	case TempFail:
		return 451, [3]int{4, 7, 1}, "Temporary DNS failure checking sender authentication, try again later", true
	}
	return 250, [3]int{2, 0, 0}, "", false
}

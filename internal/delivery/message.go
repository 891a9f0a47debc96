package delivery

import (
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Message is one delivery attempt's worth of work: one message for the
// recipients of ONE destination domain.
type Message struct {
	From  string // envelope sender (local@domain); "" is the null sender <>
	Rcpts []Rcpt // recipients, all in the same domain

	RET   string // DSN RET (RFC 3461 4.3): "FULL", "HDRS" or ""
	EnvID string // DSN ENVID (RFC 3461 4.4), decoded; "" if none

	SMTPUTF8 bool  // the envelope or header needs SMTPUTF8 (RFC 6531)
	EightBit bool  // the body has 8-bit octets: send BODY=8BITMIME (RFC 6152)
	Size     int64 // body size in bytes for SIZE (RFC 1870); 0 if unknown

	// Open returns the body, CRLF or LF line ends, not dot-stuffed. It is
	// called once per transaction and the body is streamed, never held in
	// memory whole. The reader is closed after use.
	Open func() (io.ReadCloser, error)
}

// Rcpt is one recipient and its DSN parameters (RFC 3461 4.1, 4.2).
type Rcpt struct {
	Addr   string // local@domain
	Notify string // "NEVER" or a comma list of SUCCESS, FAILURE, DELAY; "" if none
	ORcpt  string // original recipient, decoded "addr-type;address"; "" if none
}

// Status is the outcome for one recipient.
type Status int

// Status values. The zero value is not a valid outcome.
const (
	Delivered Status = iota + 1 // the next hop accepted the message (2xx)
	TempFail                    // try again later (4xx, timeouts, network, DNS)
	PermFail                    // give up and bounce (5xx, null MX, NXDOMAIN)
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case TempFail:
		return "deferred"
	case PermFail:
		return "bounced"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// RcptResult is what happened to one recipient. Status is authoritative;
// Code and Enhanced explain it (a 5xx greeting, for example, is a TempFail
// because other hosts or later attempts may succeed).
type RcptResult struct {
	Rcpt     string // the recipient address, as in Message.Rcpts
	Status   Status
	Code     int    // SMTP reply code: the remote's, or ours when Remote is false
	Enhanced string // enhanced status code "x.y.z" (RFC 3463), never empty
	Message  string // the remote's reply text, or our explanation when Remote is false
	Remote   bool   // Code, Enhanced and Message are the remote server's reply

	Host string     // the host we talked to (MX, smarthost or literal), "" if none
	IP   netip.Addr // its address, invalid if we never connected
	TLS  string     // TLS version used for the transaction, "" in plaintext

	// PeerDSN is true when the next hop offered DSN and we passed NOTIFY
	// and ORCPT on; a delivered recipient with NOTIFY=SUCCESS and PeerDSN
	// false gets a "relayed" DSN from us (RFC 3461 6.2.3).
	PeerDSN bool

	At  time.Time // when the outcome was decided (Transport clock)
	Err error     // the underlying error, nil when the remote replied
}

// Diagnostic is the Diagnostic-Code text for a DSN ("550 5.1.1 text"),
// or "" when the outcome was not a remote reply.
func (r RcptResult) Diagnostic() string {
	if !r.Remote {
		return ""
	}
	return Reply{Code: r.Code, Enhanced: r.Enhanced, Lines: []string{r.Message}}.String()
}

// failure is an outcome we decided ourselves (not a remote reply), or a
// remote reply that applies to every recipient of the attempt.
type failure struct {
	status   Status
	code     int
	enhanced string
	msg      string
	err      error
	reply    *Reply // the remote reply behind it, if any
	tls      bool   // STARTTLS failed: the host may be retried in plaintext
	host     string
	ip       netip.Addr
}

func tempFail(enh, msg string, err error) *failure {
	return &failure{status: TempFail, code: 451, enhanced: enh, msg: msg, err: err}
}

func permFail(enh, msg string, err error) *failure {
	return &failure{status: PermFail, code: 550, enhanced: enh, msg: msg, err: err}
}

// result turns a failure into the result for rcpt.
func (f *failure) result(rcpt string, at time.Time) RcptResult {
	r := RcptResult{
		Rcpt: rcpt, Status: f.status, Code: f.code, Enhanced: f.enhanced,
		Message: f.msg, Host: f.host, IP: f.ip, At: at, Err: f.err,
	}
	if f.reply != nil {
		r.Code, r.Message, r.Remote = f.reply.Code, f.reply.Text(), true
		r.Enhanced = enhancedOr(*f.reply)
	}
	return r
}

// enhancedOr is the reply's enhanced code, or the class default
// ("5.0.0") when the server sent none (RFC 3463 3.1).
func enhancedOr(r Reply) string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	return fmt.Sprintf("%d.0.0", r.Code/100)
}

// statusOf maps a reply class to a Status.
func statusOf(r Reply) Status {
	switch {
	case r.Positive():
		return Delivered
	case r.Permanent():
		return PermFail
	}
	return TempFail
}

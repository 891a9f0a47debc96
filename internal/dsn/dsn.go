// Package dsn builds delivery status notifications (RFC 3464) for the
// queue: bounces, delay warnings and success reports, and answers whether
// one should be sent at all (RFC 3461 NOTIFY, null senders). It does no
// I/O beyond reading the original message it is given.
package dsn

import (
	"io"
	"strings"
	"time"
)

// Action is the DSN Action field (RFC 3464 2.3.3).
type Action string

// Actions.
const (
	Failed    Action = "failed"    // could not be delivered; not retried
	Delayed   Action = "delayed"   // not delivered yet; still being retried
	Delivered Action = "delivered" // delivered to the final destination
	Relayed   Action = "relayed"   // handed to a system that does not report delivery status
	Expanded  Action = "expanded"  // delivered and forwarded to several recipients
)

// Params is everything a report says. The caller (the queue) sends the
// result with MAIL FROM:<> to To, and never for a null original sender
// (see IsNullSender).
type Params struct {
	Hostname  string    // reporting MTA: Reporting-MTA and MAILER-DAEMON@Hostname
	To        string    // the original envelope sender, who gets the report
	EnvID     string    // the original ENVID (decoded, not xtext); "" if none
	Arrival   time.Time // when we received the original; zero: no Arrival-Date
	Date      time.Time // the report's Date
	MessageID string    // the report's Message-ID with brackets; "" generates one

	Recipients []Recipient // at least one

	// RET is the original's DSN RET: "FULL" returns the whole message
	// (up to MaxOriginal), anything else only its header (RFC 3461 4.3).
	RET string
	// Original is the original message (CRLF or LF line ends), nil for
	// none. Build reads at most MaxOriginal+1 bytes of it.
	Original io.Reader
	// MaxOriginal bounds the returned original; a larger one is returned
	// as its header only. Default 1 MiB. The header alone is bounded by
	// MaxHeader (default 256 KiB) and cut there.
	MaxOriginal int64
	MaxHeader   int
}

// Recipient is one recipient's part of the report (RFC 3464 2.3).
type Recipient struct {
	Final    string // Final-Recipient address (local@domain)
	Original string // ORCPT, decoded "addr-type;address"; "" if none
	Action   Action
	Status   string // enhanced status code "x.y.z" (RFC 3463)

	RemoteMTA  string // the remote host name, "" if none was reached
	Diagnostic string // the remote's reply "550 5.1.1 text" (Diagnostic-Code: smtp;), "" if none
	Reason     string // our explanation when there is no Diagnostic

	LastAttempt    time.Time // zero: no Last-Attempt-Date
	WillRetryUntil time.Time // for Delayed: when we give up
}

// ShouldNotify reports whether a recipient's NOTIFY parameter (RFC 3461
// 4.1) asks for a report with this action. notify is the parameter value
// ("NEVER", or a comma list of SUCCESS, FAILURE, DELAY), case-insensitive;
// "" means the parameter was absent, which we treat as FAILURE,DELAY
// (RFC 3461 4.1 leaves the default to the MTA between FAILURE and
// FAILURE,DELAY).
func ShouldNotify(notify string, action Action) bool {
	var success, failure, delay bool
	if strings.TrimSpace(notify) == "" {
		failure, delay = true, true
	}
	for _, k := range strings.Split(notify, ",") {
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "NEVER":
			return false
		case "SUCCESS":
			success = true
		case "FAILURE":
			failure = true
		case "DELAY":
			delay = true
		}
	}
	switch action {
	case Failed:
		return failure
	case Delayed:
		return delay
	case Delivered, Relayed, Expanded:
		return success
	}
	return false
}

// IsNullSender reports whether an envelope sender is the null reverse
// path <>: no report is ever sent for such a message (RFC 5321 4.5.5,
// 6.1; RFC 3461 6.2), so bounces never bounce.
func IsNullSender(from string) bool {
	s := strings.TrimSpace(from)
	return s == "" || s == "<>"
}

// Package smtpserver serves SMTP on go-smtp: the MX (port 25: mail for our
// domains only, never relaying) and submission (587 with STARTTLS, 465 with
// implicit TLS: authenticated users send anywhere). A Server serves one
// listener kind; cmd/kantorpos starts one per configured listener.
//
// A message flows: session (policy, limits, auth) → DATA reader (CRLF only,
// bounded header section, streamed into a blob) → router (per recipient) →
// ONE store.Deliver call → "250 ... id" (DESIGN.md "How a message flows").
package smtpserver

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the role of a listener.
type Kind int

const (
	// MX receives mail for our domains from anyone (port 25). No AUTH.
	MX Kind = iota
	// Submission is authenticated submission with STARTTLS (port 587, RFC 6409).
	Submission
	// SubmissionTLS is submission over implicit TLS (port 465, RFC 8314 3.3).
	SubmissionTLS
)

func (k Kind) String() string {
	switch k {
	case MX:
		return "mx"
	case Submission:
		return "submission"
	case SubmissionTLS:
		return "submissions"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// IsSubmission reports whether k requires authentication.
func (k Kind) IsSubmission() bool { return k == Submission || k == SubmissionTLS }

// Config is the behaviour of one listener. Zero fields take the defaults of
// DefaultConfig (see WithDefaults).
type Config struct {
	Kind Kind
	// Hostname is our name in the greeting, EHLO reply and Received header.
	Hostname string

	// MaxMessageSize is the SIZE limit in bytes (RFC 1870); larger
	// messages get 552 5.3.4.
	MaxMessageSize int64
	// MaxHeaderSize bounds the header section, which is buffered to check
	// and extend it; a larger one gets 552 5.3.4.
	MaxHeaderSize int
	// MaxRecipients per transaction; more get 452 4.5.3 (RFC 5321 4.5.3.1.8
	// says at least 100).
	MaxRecipients int
	// MaxLineLength bounds command and DATA lines; a longer line gets 500
	// and the connection is closed. RFC 4954 wants AUTH lines of 12288 bytes.
	MaxLineLength int
	// MaxReceived is the number of Received header fields beyond which a
	// message is taken for a loop (554 5.4.6, RFC 5321 6.3). At least 25.
	MaxReceived int
	// MaxAuthFailures failed AUTH attempts in one connection close it with
	// 421 4.7.0.
	MaxAuthFailures int
	// MaxBadRecipients unknown or refused recipients in one connection
	// close it with 421 4.7.0 (directory harvesting).
	MaxBadRecipients int

	// CommandTimeout is how long to wait for a command (RFC 5321 4.5.3.2
	// asks for at least 5 minutes).
	CommandTimeout time.Duration
	// DataTimeout is how long DATA or BDAT content may stall.
	DataTimeout time.Duration
	// WriteTimeout bounds each reply write.
	WriteTimeout time.Duration
	// SessionTimeout bounds a whole connection, against slow-drip clients.
	SessionTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake: from the connection on
	// implicit TLS (SubmissionTLS), from the STARTTLS command otherwise.
	HandshakeTimeout time.Duration

	// MaxConns is the total number of connections served at once.
	MaxConns int
	// MaxConnsPerIP is the number of connections from one IPv4 address or
	// IPv6 /64 served at once.
	MaxConnsPerIP int

	// AllowInsecureAuth offers AUTH without TLS (`serve --dev` sets it for
	// loopback listeners). Never set it on a public listener (RFC 4954 4).
	AllowInsecureAuth bool
}

// DefaultConfig holds the defaults.
var DefaultConfig = Config{
	Hostname:         "localhost",
	MaxMessageSize:   50 << 20,
	MaxHeaderSize:    256 << 10,
	MaxRecipients:    100,
	MaxLineLength:    16 << 10,
	MaxReceived:      50,
	MaxAuthFailures:  3,
	MaxBadRecipients: 20,
	CommandTimeout:   5 * time.Minute,
	DataTimeout:      5 * time.Minute,
	WriteTimeout:     2 * time.Minute,
	SessionTimeout:   30 * time.Minute,
	HandshakeTimeout: 10 * time.Second,
	MaxConns:         1000,
	MaxConnsPerIP:    20,
}

// MinReceived is the smallest accepted MaxReceived.
const MinReceived = 25

// WithDefaults returns c with zero fields set from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Hostname == "" {
		c.Hostname = d.Hostname
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	set(&c.MaxHeaderSize, d.MaxHeaderSize)
	set(&c.MaxRecipients, d.MaxRecipients)
	set(&c.MaxLineLength, d.MaxLineLength)
	set(&c.MaxReceived, d.MaxReceived)
	set(&c.MaxAuthFailures, d.MaxAuthFailures)
	set(&c.MaxBadRecipients, d.MaxBadRecipients)
	set(&c.MaxConns, d.MaxConns)
	set(&c.MaxConnsPerIP, d.MaxConnsPerIP)
	setD(&c.CommandTimeout, d.CommandTimeout)
	setD(&c.DataTimeout, d.DataTimeout)
	setD(&c.WriteTimeout, d.WriteTimeout)
	setD(&c.SessionTimeout, d.SessionTimeout)
	setD(&c.HandshakeTimeout, d.HandshakeTimeout)
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Kind < MX || c.Kind > SubmissionTLS {
		errs = append(errs, fmt.Errorf("unknown listener kind %d", c.Kind))
	}
	if c.MaxReceived < MinReceived {
		errs = append(errs, fmt.Errorf("max received headers %d is below %d", c.MaxReceived, MinReceived))
	}
	if c.MaxMessageSize < 64<<10 {
		errs = append(errs, errors.New("max message size is below 64 KiB (RFC 5321 4.5.3.1.7)"))
	}
	if c.MaxLineLength < 1000 {
		errs = append(errs, errors.New("max line length is below 1000 (RFC 5321 4.5.3.1.6)"))
	}
	if c.MaxHeaderSize < 1000 {
		errs = append(errs, errors.New("max header size is below 1000"))
	}
	if c.MaxRecipients < 1 || c.MaxAuthFailures < 1 || c.MaxBadRecipients < 1 || c.MaxConns < 1 || c.MaxConnsPerIP < 1 {
		errs = append(errs, errors.New("limits must be positive"))
	}
	if c.MaxConnsPerIP > c.MaxConns {
		errs = append(errs, errors.New("max connections per IP exceeds max connections"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("smtpserver: %w", err)
	}
	return nil
}

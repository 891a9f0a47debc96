package delivery

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// Config configures a Transport. Zero values take the defaults shown.
type Config struct {
	Resolver dns.Resolver // MX and address lookups (required)
	Hostname string       // our name in EHLO (required, a FQDN, never "localhost")
	Port     int          // SMTP port of MX hosts; default 25

	// TLSConfig is the base client TLS configuration (RootCAs, MinVersion,
	// certificates). It is cloned per connection; ServerName and
	// InsecureSkipVerify are set per use. Default: TLS 1.2 or later.
	TLSConfig *tls.Config

	Timeouts Timeouts

	MaxConnsPerHost int // concurrent connections per host; default 10
	MaxConnsTotal   int // concurrent connections in total; default 100

	Routes Routes // smarthosts; none = direct MX delivery

	// IsLocalIP reports whether an address is this server. An MX host
	// that resolves to one is not used, nor any MX of equal or lower
	// preference (RFC 5321 5.1); if none is left the delivery is a loop
	// and fails temporarily. Not applied to smarthost routes. Default: none.
	IsLocalIP func(netip.Addr) bool

	DisableIPv6 bool // connect to IPv4 addresses only

	Pool PoolConfig

	Log   *slog.Logger // default: discard
	Clock clock.Clock  // default: clock.Real{}
}

// Timeouts per RFC 5321 4.5.3.2 (the defaults); all are configurable.
type Timeouts struct {
	Connect   time.Duration // TCP connect (and implicit TLS handshake); default 30s
	Greeting  time.Duration // the 220 greeting (4.5.3.2.1); default 5m
	Command   time.Duration // EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET (4.5.3.2.2-3); default 5m
	DataInit  time.Duration // the 354 reply to DATA (4.5.3.2.4); default 2m
	DataBlock time.Duration // each write of the body (4.5.3.2.5); default 3m
	DataEnd   time.Duration // the reply to the final dot (4.5.3.2.6); default 10m
}

// PoolConfig controls reuse of connections for the next message to the
// same host. Reused connections are reset with RSET first.
type PoolConfig struct {
	Disable     bool          // close every connection after its message
	IdleTimeout time.Duration // close an unused connection after; default 5s
	MaxMessages int           // close a connection after this many messages; default 100
	MaxIdle     int           // idle connections kept per host; default 2
}

// Mode is how a route talks to its smarthost.
type Mode string

// Route modes.
const (
	ModeSTARTTLS Mode = "starttls" // plaintext, then STARTTLS (port 587 by default)
	ModeTLS      Mode = "tls"      // implicit TLS (RFC 8314; port 465 by default)
	ModePlain    Mode = "plain"    // no TLS at all (port 25 by default)
)

// Route sends mail through a smarthost instead of the MX hosts.
type Route struct {
	Host string // host name or IP address
	Port int    // default: 465 for ModeTLS, 587 for ModeSTARTTLS, 25 for ModePlain
	Mode Mode   // default ModeSTARTTLS

	// Username and Password, when set, authenticate with AUTH PLAIN or
	// LOGIN; only ever over TLS.
	Username string
	Password string

	// RequireTLS refuses to deliver unless TLS was negotiated. It is
	// implied when Username is set.
	RequireTLS bool
	// SkipVerify accepts any certificate. Routes verify the smarthost's
	// certificate against Host by default; direct MX delivery never does.
	SkipVerify bool
}

// Routes picks a route per recipient domain.
type Routes struct {
	Default *Route           // for domains without their own route; nil: direct MX
	Domains map[string]Route // per recipient domain (IDNA and case are normalised)
}

func (c *Config) setDefaults() error {
	if c.Resolver == nil {
		return errors.New("delivery: Config.Resolver is required")
	}
	h := strings.TrimSuffix(strings.ToLower(c.Hostname), ".")
	if h == "" || h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.ContainsAny(h, " \r\n") {
		return fmt.Errorf("delivery: Config.Hostname %q must be this server's name (not localhost)", c.Hostname)
	}
	if c.Port == 0 {
		c.Port = 25
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Timeouts.Connect, 30*time.Second)
	def(&c.Timeouts.Greeting, 5*time.Minute)
	def(&c.Timeouts.Command, 5*time.Minute)
	def(&c.Timeouts.DataInit, 2*time.Minute)
	def(&c.Timeouts.DataBlock, 3*time.Minute)
	def(&c.Timeouts.DataEnd, 10*time.Minute)
	def(&c.Pool.IdleTimeout, 5*time.Second)
	if c.Pool.MaxMessages <= 0 {
		c.Pool.MaxMessages = 100
	}
	if c.Pool.MaxIdle <= 0 {
		c.Pool.MaxIdle = 2
	}
	if c.MaxConnsPerHost <= 0 {
		c.MaxConnsPerHost = 10
	}
	if c.MaxConnsTotal <= 0 {
		c.MaxConnsTotal = 100
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Routes.Default != nil {
		r, err := c.Routes.Default.normalize()
		if err != nil {
			return fmt.Errorf("delivery: default route: %w", err)
		}
		c.Routes.Default = &r
	}
	doms := make(map[string]Route, len(c.Routes.Domains))
	for d, r := range c.Routes.Domains {
		r, err := r.normalize()
		if err != nil {
			return fmt.Errorf("delivery: route for %s: %w", d, err)
		}
		key, err := mailaddr.ParseDomain(d)
		if err != nil {
			return fmt.Errorf("delivery: route for %q: %w", d, err)
		}
		doms[key] = r
	}
	c.Routes.Domains = doms
	return nil
}

func (r Route) normalize() (Route, error) {
	if r.Host == "" {
		return r, errors.New("route has no host")
	}
	if r.Mode == "" {
		r.Mode = ModeSTARTTLS
	}
	switch r.Mode {
	case ModeSTARTTLS:
		if r.Port == 0 {
			r.Port = 587
		}
	case ModeTLS:
		if r.Port == 0 {
			r.Port = 465
		}
	case ModePlain:
		if r.Port == 0 {
			r.Port = 25
		}
		if r.Username != "" || r.RequireTLS {
			return r, errors.New("mode plain cannot require TLS or send AUTH credentials")
		}
	default:
		return r, fmt.Errorf("unknown route mode %q (starttls, tls or plain)", r.Mode)
	}
	if r.Username != "" {
		r.RequireTLS = true
	}
	return r, nil
}

// route returns the route for a recipient domain, or nil for direct MX.
func (c *Config) route(domain string) *Route {
	if r, ok := c.Routes.Domains[domain]; ok {
		return &r
	}
	return c.Routes.Default
}

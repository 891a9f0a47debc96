// Package config is the kantorpos configuration: a TOML file decoded into a
// plain struct in which every key has a default. Unknown keys are errors
// that name the key and its line. No globals: Load returns a value.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration.
type Config struct {
	// Hostname is this server's name: EHLO, Received headers, certificates.
	Hostname string `toml:"hostname"`
	// DataDir holds the database, message blobs and generated certificates.
	DataDir string `toml:"data_dir"`
	// User is the service user `serve` becomes after binding its ports
	// when started as root ("" means DefaultUser); never root.
	User string `toml:"user"`

	Log         Log         `toml:"log"`
	TLS         TLS         `toml:"tls"`
	Storage     Storage     `toml:"storage"`
	SMTP        SMTP        `toml:"smtp"`
	Submission  Submission  `toml:"submission"`
	IMAP        IMAP        `toml:"imap"`
	POP3        POP3        `toml:"pop3"`
	ManageSieve ManageSieve `toml:"managesieve"`
	Admin       Admin       `toml:"admin"`
	Web         Web         `toml:"web"`
	Queue       Queue       `toml:"queue"`
	Relay       Relay       `toml:"relay"`
	DNS         DNS         `toml:"dns"`
	Limits      Limits      `toml:"limits"`
	Auth        Auth        `toml:"auth"`
}

// DefaultUser is the service user of a server started as root.
const DefaultUser = "kantorpos"

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
	// File, an absolute path, gets the log too (created 0600 by the
	// service user); it is reopened on SIGUSR1 (logrotate).
	File string `toml:"file"`
}

// TLS configures certificates.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// SelfSigned generates (once, in data_dir/tls) a self-signed certificate
	// when no files are given.
	SelfSigned bool `toml:"self_signed"`
	// ACME gets and renews certificates from an ACME CA (RFC 8555) for
	// the host name and ACMENames; the files or the self-signed
	// certificate serve until the first one arrives.
	ACME bool `toml:"acme"`
	// ACMEEmail is the account contact the CA may write to ("" for none).
	ACMEEmail string `toml:"acme_email"`
	// ACMEDirectory is the CA's directory URL.
	ACMEDirectory string `toml:"acme_directory"`
	// ACMEDirectoryCA is a PEM file of the CA that signs the directory's
	// HTTPS certificate, for private CAs; "" trusts the system's roots.
	ACMEDirectoryCA string `toml:"acme_directory_ca"`
	// ACMENames are the names to get certificates for besides the host
	// name; empty: autoconfig.D and autodiscover.D of every domain D.
	ACMENames []string `toml:"acme_names"`
	// ACMEChallenges are the challenge types to use, preferred first:
	// tls-alpn-01 (web.listen_tls, port 443) and http-01 (web.listen, 80).
	ACMEChallenges []string `toml:"acme_challenges"`
}

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// Storage selects the database.
type Storage struct {
	Driver   string `toml:"driver"` // sqlite or postgres
	DSN      string `toml:"dsn"`    // postgres connection string
	MaxConns int    `toml:"max_conns"`
	// MinFreeDisk is the free space kept back: below it, new mail is
	// refused with a temporary error instead of filling the disk.
	MinFreeDisk ByteSize `toml:"min_free_disk"`
}

// SMTP is the MX listener (port 25) and what all SMTP listeners share.
type SMTP struct {
	Listen             string   `toml:"listen"`
	MaxMessageSize     ByteSize `toml:"max_message_size"`
	MaxRecipients      int      `toml:"max_recipients"`
	MaxReceivedHeaders int      `toml:"max_received_headers"`
	CommandTimeout     Duration `toml:"command_timeout"`
	SessionTimeout     Duration `toml:"session_timeout"`
	// CheckAuthentication runs SPF, DKIM and DMARC on mail received on port 25.
	CheckAuthentication bool `toml:"check_authentication"`
	// Postmaster receives mail for postmaster@ of every domain when no alias says otherwise.
	Postmaster string `toml:"postmaster"`
}

// Submission is where users send mail (587 STARTTLS, 465 implicit TLS).
type Submission struct {
	Listen    string `toml:"listen"`
	ListenTLS string `toml:"listen_tls"`
	// AllowInsecureAuth permits AUTH without TLS. Never on a public address.
	AllowInsecureAuth bool `toml:"allow_insecure_auth"`
	// SignDKIM signs submitted mail with the sender domain's DKIM keys.
	SignDKIM bool `toml:"sign_dkim"`
}

// IMAP is the IMAP service (143 STARTTLS, 993 implicit TLS).
type IMAP struct {
	Listen            string   `toml:"listen"`
	ListenTLS         string   `toml:"listen_tls"`
	AllowInsecureAuth bool     `toml:"allow_insecure_auth"`
	MaxAppendSize     ByteSize `toml:"max_append_size"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	MaxConnsPerUser   int      `toml:"max_connections_per_user"`
}

// POP3 is the POP3 service (110 STLS, 995 implicit TLS).
type POP3 struct {
	Listen            string `toml:"listen"`
	ListenTLS         string `toml:"listen_tls"`
	AllowInsecureAuth bool   `toml:"allow_insecure_auth"`
}

// ManageSieve is the service users upload Sieve scripts with (RFC 5804,
// port 4190, STARTTLS).
type ManageSieve struct {
	Listen            string `toml:"listen"`
	AllowInsecureAuth bool   `toml:"allow_insecure_auth"`
}

// Admin is the HTTP admin API, web page and metrics.
type Admin struct {
	// Listen is the bind address; "" turns the admin listener off. An
	// address other than loopback needs TLS.
	Listen string `toml:"listen"`
	// TLS serves HTTPS with the server's certificate (required to listen
	// beyond loopback; session cookies are then marked Secure).
	TLS bool `toml:"tls"`
}

// Web is the public web listener: ACME challenges, client
// autoconfiguration and an index page (HTTP redirects to HTTPS).
type Web struct {
	Listen    string `toml:"listen"`
	ListenTLS string `toml:"listen_tls"`
}

// Queue is the outbound queue schedule.
type Queue struct {
	RetryInterval Duration `toml:"retry_interval"`
	MaxAge        Duration `toml:"max_age"`
	DelayWarning  Duration `toml:"delay_warning"`
	Workers       int      `toml:"workers"`
	// Port is the remote SMTP port (25; tests use another).
	Port int `toml:"port"`
	// MaxConnsPerHost bounds connections to one remote host.
	MaxConnsPerHost int `toml:"max_connections_per_host"`
}

// Relay is an optional smarthost: all outbound mail goes through it, except
// mail for domains with their own route.
type Relay struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	Mode     string `toml:"mode"` // starttls, tls or plain
	Username string `toml:"username"`
	Password string `toml:"password"`
	// SkipVerify accepts any certificate from the smarthost (a self-signed
	// one on a private network). Leave it off otherwise.
	SkipVerify bool `toml:"skip_verify"`
	// Routes send mail for some recipient domains through another host.
	Routes []RelayRoute `toml:"routes"`
}

// RelayRoute is a smarthost for one recipient domain.
type RelayRoute struct {
	Domain     string `toml:"domain"`
	Host       string `toml:"host"`
	Port       int    `toml:"port"`
	Mode       string `toml:"mode"`
	Username   string `toml:"username"`
	Password   string `toml:"password"`
	SkipVerify bool   `toml:"skip_verify"`
}

// DNS selects the resolver.
type DNS struct {
	// Server is "host:port" of the DNS server to ask; empty uses the system's.
	Server string `toml:"server"`
}

// Limits are the caps that protect the server.
type Limits struct {
	// MaxConnections bounds the connections one listener holds at once.
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP bounds them per client network on one listener:
	// an IPv4 address, or an IPv6 /64.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// TLSHandshakeTimeout is the time a client has to complete a TLS
	// handshake: from connecting on an implicit-TLS listener, from its
	// STARTTLS (STLS) command otherwise.
	TLSHandshakeTimeout Duration `toml:"tls_handshake_timeout"`
}

// Auth configures logins.
type Auth struct {
	// FailuresBeforeDelay failed logins from one network pass without delay.
	FailuresBeforeDelay int `toml:"failures_before_delay"`
	// MaxFailures within FailureWindow refuse further logins from that network.
	MaxFailures   int      `toml:"max_failures"`
	FailureWindow Duration `toml:"failure_window"`
	// CacheTTL is how long a verified password is remembered (a keyed hash
	// of it, in memory only), so that repeated logins skip argon2id; 0 turns
	// the cache off. Failures are never cached.
	CacheTTL Duration `toml:"cache_ttl"`
}

// Default returns the built-in configuration.
func Default() Config {
	// The machine's name when it is a fully qualified one; otherwise the
	// configuration must name the host (Validate says so).
	host, _ := os.Hostname()
	if !IsFQDN(host) {
		host = ""
	}
	return Config{
		Hostname: host,
		DataDir:  "/var/lib/kantorpos",
		Log:      Log{Level: "info", Format: "text"},
		TLS: TLS{SelfSigned: true, ACMEDirectory: DefaultACMEDirectory, ACMENames: []string{},
			ACMEChallenges: []string{"tls-alpn-01", "http-01"}},
		Storage: Storage{Driver: "sqlite", MaxConns: 16, MinFreeDisk: 256 << 20},
		SMTP: SMTP{Listen: ":25", MaxMessageSize: 50 << 20, MaxRecipients: 100, MaxReceivedHeaders: 50,
			CommandTimeout: Duration(5 * time.Minute), SessionTimeout: Duration(30 * time.Minute), CheckAuthentication: true},
		Submission:  Submission{Listen: ":587", ListenTLS: ":465", SignDKIM: true},
		IMAP:        IMAP{Listen: ":143", ListenTLS: ":993", MaxAppendSize: 50 << 20, IdleTimeout: Duration(30 * time.Minute), MaxConnsPerUser: 50},
		POP3:        POP3{Listen: ":110", ListenTLS: ":995"},
		ManageSieve: ManageSieve{Listen: ":4190"},
		Admin:       Admin{Listen: "127.0.0.1:8080"},
		Web:         Web{Listen: ":80", ListenTLS: ":443"},
		Queue: Queue{RetryInterval: Duration(15 * time.Minute), MaxAge: Duration(120 * time.Hour),
			DelayWarning: Duration(4 * time.Hour), Workers: 16, Port: 25, MaxConnsPerHost: 4},
		Relay:  Relay{Port: 587, Mode: "starttls"},
		Limits: Limits{MaxConnections: 2000, MaxConnectionsPerIP: 20, TLSHandshakeTimeout: Duration(10 * time.Second)},
		Auth: Auth{FailuresBeforeDelay: 5, MaxFailures: 20, FailureWindow: Duration(15 * time.Minute),
			CacheTTL: Duration(15 * time.Minute)},
	}
}

// Dev returns the configuration of `kantorpos serve -dev`: loopback only,
// high ports, data in ./kantorpos-data, plaintext auth on loopback.
func Dev() Config {
	c := Default()
	c.Hostname = "mail.example.test"
	c.DataDir = "kantorpos-data"
	c.SMTP.Listen = "127.0.0.1:2525"
	c.SMTP.CheckAuthentication = false
	c.Submission = Submission{Listen: "127.0.0.1:2587", ListenTLS: "127.0.0.1:2465", AllowInsecureAuth: true, SignDKIM: true}
	c.IMAP.Listen, c.IMAP.ListenTLS, c.IMAP.AllowInsecureAuth = "127.0.0.1:1143", "127.0.0.1:1993", true
	c.POP3 = POP3{Listen: "127.0.0.1:1110", ListenTLS: "127.0.0.1:1995", AllowInsecureAuth: true}
	c.ManageSieve = ManageSieve{Listen: "127.0.0.1:14190", AllowInsecureAuth: true}
	c.Admin.Listen = "127.0.0.1:8025"
	c.Web = Web{Listen: "127.0.0.1:8880", ListenTLS: "127.0.0.1:8443"}
	c.Storage.MinFreeDisk = 64 << 20
	return c
}

// LoopbackAddr reports whether a listen address binds only to loopback
// ("localhost", 127.0.0.0/8, ::1). An empty host (all addresses) is not.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Load reads a configuration file over the defaults. With path "", it
// returns the defaults.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, c.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := Decode(data, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Decode decodes TOML text over c (which holds the defaults) and validates.
func Decode(data []byte, c *Config) error {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		var msgs []string
		for _, k := range und {
			msg := fmt.Sprintf("unknown key %q", k.String())
			if n := KeyLine(data, k.String()); n > 0 {
				msg += fmt.Sprintf(" at line %d", n)
			}
			msgs = append(msgs, msg)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	err = c.Validate()
	var ps Problems
	if errors.As(err, &ps) {
		return ps.WithLines(data)
	}
	return err
}

// KeyLine finds the line where a dotted key ("queue.retry_interval") is
// set, or its table starts; 0 if the text does not set it.
func KeyLine(data []byte, key string) int {
	k := strings.Split(key, ".")
	last := k[len(k)-1]
	section := strings.Join(k[:len(k)-1], ".")
	current := ""
	for i, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			current = strings.Trim(l, "[] ")
			if len(k) > 1 && current == key {
				return i + 1
			}
			continue
		}
		name, _, ok := strings.Cut(l, "=")
		if ok && strings.Trim(strings.TrimSpace(name), `"`) == last && current == section {
			return i + 1
		}
	}
	return 0
}

// Validate checks values that decode but make no sense. Its error is a
// Problems, each naming the key it is about.
func (c *Config) Validate() error {
	var probs Problems
	bad := func(key, f string, a ...any) { probs = append(probs, Problem{Key: key, Msg: fmt.Sprintf(f, a...)}) }
	switch {
	case c.Hostname == "":
		bad("hostname", "hostname is not set: name this server as it is known in DNS (hostname = \"mail.example.org\"); its MX records and certificates use it")
	case !IsFQDN(c.Hostname):
		bad("hostname", "hostname %q is not a fully qualified host name (like mail.example.org)", c.Hostname)
	}
	if c.DataDir == "" {
		bad("data_dir", "data_dir is empty")
	}
	if c.User == "root" || c.User == "0" {
		bad("user", "user %q: the server never runs as root after binding its ports; name an unprivileged user", c.User)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "log.format %q: want text or json", c.Log.Format)
	}
	if c.Log.File != "" && !filepath.IsAbs(c.Log.File) {
		bad("log.file", "log.file %q: want an absolute path", c.Log.File)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert_file", "tls.cert_file and tls.key_file go together")
	}
	if c.TLS.ACME {
		c.validateACME(bad)
	}
	switch c.Storage.Driver {
	case "sqlite":
	case "postgres":
		if c.Storage.DSN == "" {
			bad("storage.dsn", "storage.dsn is required with driver postgres")
		}
	default:
		bad("storage.driver", "storage.driver %q: want sqlite or postgres", c.Storage.Driver)
	}
	type bound struct{ key, host, port string }
	var binds []bound
	for _, l := range c.ListenAddrs() {
		host, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			bad(l.Key, "%s %q: %v", l.Key, l.Addr, err)
			continue
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad(l.Key, "%s %q: bad port", l.Key, l.Addr)
			continue
		}
		if port == "0" {
			continue // an ephemeral port never clashes
		}
		for _, o := range binds {
			if o.port == port && (o.host == host || wildcardHost(o.host) || wildcardHost(host)) {
				bad(l.Key, "%s %q: the same port on the same address as %s", l.Key, l.Addr, o.key)
				break
			}
		}
		binds = append(binds, bound{l.Key, host, port})
	}
	for _, ia := range []struct {
		key   string
		on    bool
		addrs []string
	}{
		{"submission.allow_insecure_auth", c.Submission.AllowInsecureAuth, []string{c.Submission.Listen}},
		{"imap.allow_insecure_auth", c.IMAP.AllowInsecureAuth, []string{c.IMAP.Listen}},
		{"pop3.allow_insecure_auth", c.POP3.AllowInsecureAuth, []string{c.POP3.Listen}},
		{"managesieve.allow_insecure_auth", c.ManageSieve.AllowInsecureAuth, []string{c.ManageSieve.Listen}},
	} {
		for _, a := range ia.addrs {
			if ia.on && a != "" && !LoopbackAddr(a) {
				bad(ia.key, "%s: plaintext passwords on %q, which other hosts reach: allowed on loopback addresses only", ia.key, a)
			}
		}
	}
	if c.SMTP.Postmaster != "" && !isMailbox(c.SMTP.Postmaster) {
		bad("smtp.postmaster", "smtp.postmaster %q is not an address (user@domain)", c.SMTP.Postmaster)
	}
	if c.Admin.Listen != "" && !c.Admin.TLS && !LoopbackAddr(c.Admin.Listen) {
		bad("admin.listen", "admin.listen %q is reachable from other hosts: set admin.tls = true (or listen on 127.0.0.1)", c.Admin.Listen)
	}
	if c.SMTP.MaxMessageSize < 64<<10 {
		bad("smtp.max_message_size", "smtp.max_message_size must be at least 64KiB (RFC 5321 4.5.3.1.7)")
	}
	if c.SMTP.MaxRecipients < 100 {
		bad("smtp.max_recipients", "smtp.max_recipients must be at least 100 (RFC 5321 4.5.3.1.8)")
	}
	if c.SMTP.MaxReceivedHeaders < 25 {
		bad("smtp.max_received_headers", "smtp.max_received_headers must be at least 25")
	}
	if c.SMTP.CommandTimeout.D() < time.Minute {
		bad("smtp.command_timeout", "smtp.command_timeout must be at least 1m")
	}
	if c.IMAP.IdleTimeout.D() < 30*time.Minute {
		bad("imap.idle_timeout", "imap.idle_timeout must be at least 30m (RFC 9051 5.4)")
	}
	if c.Limits.MaxConnections < 1 || c.Limits.MaxConnectionsPerIP < 1 || c.Limits.MaxConnectionsPerIP > c.Limits.MaxConnections {
		bad("limits.max_connections_per_ip", "limits.max_connections_per_ip must be at least 1 and at most limits.max_connections")
	}
	if c.Limits.TLSHandshakeTimeout.D() <= 0 {
		bad("limits.tls_handshake_timeout", "limits.tls_handshake_timeout must be positive")
	}
	if c.Queue.RetryInterval.D() <= 0 || c.Queue.MaxAge.D() < c.Queue.RetryInterval.D() {
		bad("queue.retry_interval", "queue.retry_interval must be positive and below queue.max_age")
	}
	if c.Queue.Port <= 0 || c.Queue.Port > 65535 {
		bad("queue.port", "queue.port %d out of range", c.Queue.Port)
	}
	if c.Relay.Host != "" {
		switch c.Relay.Mode {
		case "starttls", "tls", "plain":
		default:
			bad("relay.mode", "relay.mode %q: want starttls, tls or plain", c.Relay.Mode)
		}
	}
	for i, r := range c.Relay.Routes {
		switch {
		case r.Domain == "" || r.Host == "":
			bad("relay.routes", "relay.routes[%d]: domain and host are required", i)
		case r.Mode != "" && r.Mode != "starttls" && r.Mode != "tls" && r.Mode != "plain":
			bad("relay.routes", "relay.routes[%d].mode %q: want starttls, tls or plain", i, r.Mode)
		}
	}
	if c.DNS.Server != "" {
		if _, _, err := net.SplitHostPort(c.DNS.Server); err != nil {
			bad("dns.server", "dns.server %q: want host:port", c.DNS.Server)
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// Listen is one listen address of the configuration, with its key.
type Listen struct{ Key, Addr string }

// ListenAddrs lists the configured listen addresses (disabled ones left
// out), in the order of the file.
func (c *Config) ListenAddrs() []Listen {
	var out []Listen
	for _, l := range []Listen{
		{"smtp.listen", c.SMTP.Listen}, {"submission.listen", c.Submission.Listen}, {"submission.listen_tls", c.Submission.ListenTLS},
		{"imap.listen", c.IMAP.Listen}, {"imap.listen_tls", c.IMAP.ListenTLS}, {"pop3.listen", c.POP3.Listen},
		{"pop3.listen_tls", c.POP3.ListenTLS}, {"admin.listen", c.Admin.Listen}, {"managesieve.listen", c.ManageSieve.Listen},
		{"web.listen", c.Web.Listen}, {"web.listen_tls", c.Web.ListenTLS},
	} {
		if l.Addr != "" {
			out = append(out, l)
		}
	}
	return out
}

func wildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }

// IsFQDN says whether s is a fully qualified host name that other servers
// can look up: DNS labels, at least two, not a "localhost" name.
func IsFQDN(s string) bool {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if !isDNSName(s) {
		return false
	}
	return s != "localhost.localdomain" && !strings.HasSuffix(s, ".localhost") && !strings.HasSuffix(s, ".localdomain")
}

// isMailbox is a plain syntax check of user@domain for configuration
// values (no display name, no brackets).
func isMailbox(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.ContainsAny(s, " <>\"\t,;") && isDNSName(domain) && !strings.Contains(domain, "@")
}

// Problem is one mistake in a configuration: the key it is about ("" for
// none) and what is wrong. Line is the line of the file that sets the key,
// when known.
type Problem struct {
	Key  string
	Msg  string
	Line int
}

// Problems are the mistakes Validate or a check found.
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Msg
		if p.Line > 0 {
			msgs[i] += fmt.Sprintf(" (line %d)", p.Line)
		}
	}
	return strings.Join(msgs, "; ")
}

// WithLines fills in the line of each problem's key from the file's text.
func (ps Problems) WithLines(data []byte) Problems {
	for i, p := range ps {
		if p.Key != "" && p.Line == 0 {
			ps[i].Line = KeyLine(data, p.Key)
		}
	}
	return ps
}

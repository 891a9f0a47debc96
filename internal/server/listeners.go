package server

import (
	"net"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
	"github.com/kantorpos/kantorpos/internal/tlsprobe"
)

// Listeners describes every configured listener the way a client sees it:
// how TLS starts and which ALPN protocol its tls.Config offers (every TLS
// listener gets its tls.Config from tlsconf.ServerConfig). An address
// without a host (":25") or with an unspecified one is reached on
// 127.0.0.1. `kantorpos status` probes them; keep in step with services().
func Listeners(c config.Config) []tlsprobe.Listener {
	var out []tlsprobe.Listener
	adminMode := tlsprobe.None
	if c.Admin.TLS {
		adminMode = tlsprobe.Implicit
	}
	for _, l := range []tlsprobe.Listener{
		{Name: "smtp", Addr: c.SMTP.Listen, Mode: tlsprobe.STARTTLS, Proto: tlsconf.ProtoSMTP},
		{Name: "submission", Addr: c.Submission.Listen, Mode: tlsprobe.STARTTLS, Proto: tlsconf.ProtoSMTP},
		{Name: "submissions", Addr: c.Submission.ListenTLS, Mode: tlsprobe.Implicit, Proto: tlsconf.ProtoSMTP},
		{Name: "imap", Addr: c.IMAP.Listen, Mode: tlsprobe.STARTTLS, Proto: tlsconf.ProtoIMAP},
		{Name: "imaps", Addr: c.IMAP.ListenTLS, Mode: tlsprobe.Implicit, Proto: tlsconf.ProtoIMAP},
		{Name: "pop3", Addr: c.POP3.Listen, Mode: tlsprobe.STARTTLS, Proto: tlsconf.ProtoPOP3},
		{Name: "pop3s", Addr: c.POP3.ListenTLS, Mode: tlsprobe.Implicit, Proto: tlsconf.ProtoPOP3},
		{Name: "managesieve", Addr: c.ManageSieve.Listen, Mode: tlsprobe.STARTTLS, Proto: tlsconf.ProtoManageSieve},
		{Name: "http", Addr: c.Web.Listen, Mode: tlsprobe.None, Proto: tlsconf.ProtoHTTP},
		{Name: "https", Addr: c.Web.ListenTLS, Mode: tlsprobe.Implicit, Proto: tlsconf.ProtoHTTP},
		{Name: "admin", Addr: c.Admin.Listen, Mode: adminMode, Proto: tlsconf.ProtoHTTP},
	} {
		if l.Addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		l.Addr = net.JoinHostPort(host, port)
		out = append(out, l)
	}
	return out
}

package webserver

import (
	"html/template"
	"net/http"

	"github.com/kantorpos/kantorpos/internal/autoconfig"
)

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mail server {{.Hostname}}</title>
<h1>Mail server {{.Hostname}}</h1>
<p>Thunderbird, Outlook and most mail apps set themselves up from your
address and password alone. If yours asks for servers:</p>
<table>
<tr><th>Service</th><th>Server</th><th>Port</th><th>Security</th></tr>
{{- range .Rows}}
<tr><td>{{.Service}}</td><td>{{$.Hostname}}</td><td>{{.Port}}</td><td>{{.Security}}</td></tr>
{{- end}}
</table>
<p>User name: your full address. Password: your password (sent only over TLS).</p>
<form action="{{.ApplePath}}" method="get">
<p><label>iPhone, iPad or Mac: <input name="email" type="email" placeholder="you@example.com" required></label>
<button>Download a configuration profile</button></p>
</form>
</html>
`))

type indexRow struct {
	Service, Security string
	Port              int
}

// index is the plain home page: how to set up a mail client.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := s.cfg.Published()
	var rows []indexRow
	for _, e := range []struct {
		service string
		port    int
		sec     string
	}{
		{"IMAP", p.IMAPS, "TLS"}, {"IMAP", p.IMAP, "STARTTLS"},
		{"SMTP (sending)", p.Submissions, "TLS"}, {"SMTP (sending)", p.Submission, "STARTTLS"},
		{"POP3", p.POP3S, "TLS"}, {"POP3", p.POP3, "STARTTLS"},
	} {
		if e.port > 0 {
			rows = append(rows, indexRow{e.service, e.sec, e.port})
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if err := indexPage.Execute(w, struct {
		Hostname  string
		Rows      []indexRow
		ApplePath string
	}{p.Hostname, rows, autoconfig.AppleProfilePath}); err != nil {
		s.cfg.Log.Debug("web: index", "err", err)
	}
}

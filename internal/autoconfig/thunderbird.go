package autoconfig

import (
	"encoding/xml"
	"net/http"

	"github.com/kantorpos/kantorpos/internal/admin"
)

// Thunderbird autoconfig, clientConfig version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string     `xml:"id,attr"`
	Domain           string     `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []tbServer `xml:"incomingServer"`
	Outgoing         []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"` // SSL (implicit TLS) or STARTTLS
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

// Thunderbird builds the autoconfig document of a domain.
func Thunderbird(p admin.Published, domain string) ([]byte, bool) {
	cc := clientConfig{Version: "1.1", Provider: emailProvider{
		ID: domain, Domain: domain, DisplayName: domain + " mail (" + p.Hostname + ")", DisplayShortName: domain,
	}}
	for _, e := range endpoints(p) {
		s := tbServer{Type: e.proto, Hostname: p.Hostname, Port: e.port, SocketType: "STARTTLS",
			Username: "%EMAILADDRESS%", Authentication: "password-cleartext"}
		if e.implicit {
			s.SocketType = "SSL"
		}
		if e.proto == "smtp" {
			cc.Provider.Outgoing = append(cc.Provider.Outgoing, s)
		} else {
			cc.Provider.Incoming = append(cc.Provider.Incoming, s)
		}
	}
	if len(cc.Provider.Incoming) == 0 || len(cc.Provider.Outgoing) == 0 {
		return nil, false
	}
	return marshalXML(cc), true
}

// thunderbird answers GET /mail/config-v1.1.xml?emailaddress=... on
// autoconfig.DOMAIN and /.well-known/autoconfig/... on DOMAIN.
func (h *Handler) thunderbird(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	domain := hostDomain(r.Host)
	if q := r.URL.Query().Get("emailaddress"); q != "" {
		a, ok := address(q)
		if !ok {
			http.Error(w, "bad emailaddress", http.StatusBadRequest)
			return
		}
		domain = a.Domain
	}
	if domain == "" || !h.ours(w, r, domain) {
		if domain == "" {
			http.NotFound(w, r)
		}
		return
	}
	doc, ok := Thunderbird(h.Published(), domain)
	if !ok {
		http.Error(w, "no mail service is offered", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(doc)
}

func marshalXML(v any) []byte {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // our own fixed types: cannot fail
	}
	return append(append([]byte(xml.Header), out...), '\n')
}

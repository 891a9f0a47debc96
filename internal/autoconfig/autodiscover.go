package autoconfig

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/kantorpos/kantorpos/internal/admin"
)

// Outlook autodiscover, plain-old-XML form ([MS-OXDSCLI]): Outlook POSTs
// its address to https://autodiscover.DOMAIN/autodiscover/autodiscover.xml.
const (
	requestSchema  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	responseSchema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	outerSchema    = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
)

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

var (
	errNotAutodiscover = errors.New("not an autodiscover request")
	errSchema          = errors.New("response schema not supported")
)

// ParseRequest reads an autodiscover request body (at most
// MaxRequestBody bytes; the caller bounds the reader) and returns the
// address asked about. encoding/xml expands no external entities and
// declines other charsets; Strict rejects malformed documents.
func ParseRequest(r io.Reader) (string, error) {
	d := xml.NewDecoder(io.LimitReader(r, MaxRequestBody+1)) // +1: let the caller's bound report itself
	d.Strict = true
	var req adRequest
	if err := d.Decode(&req); err != nil {
		return "", err
	}
	if req.XMLName.Space != "" && req.XMLName.Space != requestSchema {
		return "", errNotAutodiscover
	}
	if s := strings.TrimSpace(req.Request.AcceptableResponseSchema); s != "" && s != responseSchema {
		return "", errSchema // e.g. ActiveSync's mobilesync schema
	}
	a := strings.TrimSpace(req.Request.EMailAddress)
	if a == "" {
		return "", errNotAutodiscover
	}
	return a, nil
}

type adResponse struct {
	XMLName  xml.Name    `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adResponse2 `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

type adResponse2 struct {
	Account adAccount `xml:"Account"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocols   []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"` // IMAP, POP3, SMTP
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	// Encryption TLS means STARTTLS; without it SSL on is implicit TLS.
	Encryption   string `xml:"Encryption,omitempty"`
	AuthRequired string `xml:"AuthRequired"`
}

// Autodiscover builds the response for an address: one protocol each of
// IMAP, SMTP and POP3 (an incoming one first), implicit TLS preferred.
func Autodiscover(p admin.Published, addr string) ([]byte, bool) {
	acct := adAccount{AccountType: "email", Action: "settings"}
	incoming, outgoing := false, false
	order := []string{"imap", "smtp", "pop3"}
	if _, ok := preferred(p, "imap"); !ok {
		order = []string{"pop3", "smtp"}
	}
	for _, proto := range order {
		e, ok := preferred(p, proto)
		if !ok {
			continue
		}
		if proto == "smtp" {
			outgoing = true
		} else {
			incoming = true
		}
		pr := adProtocol{Type: strings.ToUpper(proto), Server: p.Hostname, Port: e.port, DomainRequired: "off",
			LoginName: addr, SPA: "off", SSL: "on", AuthRequired: "on"}
		if !e.implicit {
			pr.Encryption = "TLS"
		}
		acct.Protocols = append(acct.Protocols, pr)
	}
	if !incoming || !outgoing {
		return nil, false
	}
	return marshalXML(adResponse{Response: adResponse2{Account: acct}}), true
}

func (h *Handler) autodiscoverXML(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "autodiscover takes a POST", http.StatusMethodNotAllowed)
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxRequestBody)
	raw, err := ParseRequest(body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		h.log().Debug("autodiscover: bad request", "err", err)
		http.Error(w, "bad autodiscover request", http.StatusBadRequest)
		return
	}
	a, ok := address(raw)
	if !ok {
		http.Error(w, "bad address", http.StatusBadRequest)
		return
	}
	if !h.ours(w, r, a.Domain) {
		return
	}
	doc, ok := Autodiscover(h.Published(), a.String())
	if !ok {
		http.Error(w, "no mail service is offered", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(doc)
}

// autodiscoverJSON answers Autodiscover v2, which Outlook asks first:
//
//	GET /autodiscover/autodiscover.json?Email=a@d&Protocol=AutodiscoverV1
//	GET /autodiscover/autodiscover.json/v1.0/a@d?Protocol=AutodiscoverV1
//
// For AutodiscoverV1 the answer is the URL of the XML endpoint on the host
// asked; other protocols (ActiveSync, EWS, REST) are not offered and get
// Exchange's 400 InvalidProtocol; an address not ours gets 404.
func (h *Handler) autodiscoverJSON(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	email := q.Get("Email")
	if rest, ok := strings.CutPrefix(r.URL.Path[len(AutodiscoverJSONPath):], "/"); ok {
		v, e, found := strings.Cut(rest, "/")
		if !found || !strings.EqualFold(v, "v1.0") {
			http.NotFound(w, r)
			return
		}
		email = e
	}
	a, ok := address(email)
	if !ok {
		http.Error(w, "bad address", http.StatusBadRequest)
		return
	}
	if !h.ours(w, r, a.Domain) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	protocol := q.Get("Protocol")
	if !strings.EqualFold(protocol, "AutodiscoverV1") {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"ErrorCode": "InvalidProtocol",
			"ErrorMessage": "The given protocol value is invalid. Supported values are 'AutodiscoverV1'"})
		return
	}
	host := r.Host
	if host == "" || strings.ContainsAny(host, "/?#@ \\") {
		http.Error(w, "bad host", http.StatusBadRequest)
		return
	}
	json.NewEncoder(w).Encode(struct {
		Protocol string
		URL      string `json:"Url"`
	}{"AutodiscoverV1", "https://" + host + AutodiscoverXMLPath})
}

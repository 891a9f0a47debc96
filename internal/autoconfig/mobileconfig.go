package autoconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/kantorpos/kantorpos/internal/admin"
)

// Apple configuration profile with one email payload
// (https://developer.apple.com/documentation/devicemanagement/mail):
// iPhone, iPad and Mac install it from Safari. It carries no password;
// the device asks for it. The profile is unsigned (the device shows
// "Not Signed"); signing it with the server certificate (CMS, as
// `openssl smime -sign` does) is possible later.

// AppleProfile builds the profile for an address.
func AppleProfile(p admin.Published, addr string) ([]byte, bool) {
	in, ok := preferred(p, "imap")
	accountType := "EmailTypeIMAP"
	if !ok {
		in, ok = preferred(p, "pop3")
		accountType = "EmailTypePOP"
	}
	out, okOut := preferred(p, "smtp")
	if !ok || !okOut {
		return nil, false
	}
	id := reverseDNS(p.Hostname) + ".kantorpos.mail." + shortHash(addr)
	mail := plistDict{
		{"EmailAccountDescription", addr},
		{"EmailAccountType", accountType},
		{"EmailAddress", addr},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", p.Hostname},
		{"IncomingMailServerPortNumber", in.port},
		// With UseSSL on, the device uses implicit TLS on 993/995 and
		// STARTTLS on the other ports.
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", addr},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", p.Hostname},
		{"OutgoingMailServerPortNumber", out.port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", addr},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + addr},
		{"PayloadDisplayName", addr},
		{"PayloadIdentifier", id + ".account"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", uuidFor(p.Hostname, addr, "account")},
		{"PayloadVersion", 1},
	}
	profile := plistDict{
		{"PayloadContent", []any{mail}},
		{"PayloadDescription", "Sets up mail for " + addr + " on " + p.Hostname + "."},
		{"PayloadDisplayName", "Mail: " + addr},
		{"PayloadIdentifier", id},
		{"PayloadOrganization", p.Hostname},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", uuidFor(p.Hostname, addr, "profile")},
		{"PayloadVersion", 1},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	writePlist(&b, profile, 0)
	b.WriteString("</plist>\n")
	return b.Bytes(), true
}

func (h *Handler) appleProfile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, ok := address(r.URL.Query().Get("email"))
	if !ok {
		http.Error(w, "give your address: "+AppleProfilePath+"?email=you@example.com", http.StatusBadRequest)
		return
	}
	if !h.ours(w, r, a.Domain) {
		return
	}
	doc, ok := AppleProfile(h.Published(), a.String())
	if !ok {
		http.Error(w, "no mail service is offered", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+a.Domain+`.mobileconfig"`)
	w.Write(doc)
}

// plistDict is a dictionary with its key order kept.
type plistDict []struct {
	k string
	v any
}

// writePlist writes a value of the XML property list format; strings are
// escaped by encoding/xml.
func writePlist(b *bytes.Buffer, v any, depth int) {
	ind := strings.Repeat("\t", depth)
	switch v := v.(type) {
	case plistDict:
		b.WriteString(ind + "<dict>\n")
		for _, kv := range v {
			b.WriteString(ind + "\t<key>")
			xml.EscapeText(b, []byte(kv.k))
			b.WriteString("</key>\n")
			writePlist(b, kv.v, depth+1)
		}
		b.WriteString(ind + "</dict>\n")
	case []any:
		b.WriteString(ind + "<array>\n")
		for _, e := range v {
			writePlist(b, e, depth+1)
		}
		b.WriteString(ind + "</array>\n")
	case string:
		b.WriteString(ind + "<string>")
		xml.EscapeText(b, []byte(v))
		b.WriteString("</string>\n")
	case int:
		b.WriteString(ind + "<integer>" + strconv.Itoa(v) + "</integer>\n")
	case bool:
		b.WriteString(ind + "<" + strconv.FormatBool(v) + "/>\n")
	default:
		panic(fmt.Sprintf("plist: %T", v))
	}
}

// uuidFor is a stable UUID (version 5 layout, SHA-256 based) of the
// inputs: downloading the profile again replaces the installed one.
func uuidFor(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	x := strings.ToUpper(hex.EncodeToString(h[:16]))
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func reverseDNS(host string) string {
	labels := strings.Split(host, ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

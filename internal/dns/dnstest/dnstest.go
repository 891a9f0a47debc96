// Package dnstest runs a real DNS server on loopback for tests, so that
// two kantorpos servers (or SPF/DKIM checks) resolve names exactly as they
// would in production, through the configured resolver address.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/kantorpos/kantorpos/internal/dns"
)

// Server is an authoritative-for-everything DNS server on 127.0.0.1 (UDP and
// TCP on the same port). Records are added with Add in zone-file syntax.
type Server struct {
	Addr string // "127.0.0.1:port"

	mu       sync.Mutex
	records  map[string][]mdns.RR // key: lower-case FQDN
	servfail map[string]bool
	udp, tcp *mdns.Server
}

// New starts a server and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{records: map[string][]mdns.RR{}, servfail: map[string]bool{}}
	// Bind UDP and TCP on the same port; retry if the TCP port is taken.
	for i := 0; ; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			if i < 20 {
				continue
			}
			t.Fatalf("dnstest: listen tcp: %v", err)
		}
		s.Addr = pc.LocalAddr().String()
		s.udp = &mdns.Server{PacketConn: pc, Handler: s}
		s.tcp = &mdns.Server{Listener: l, Handler: s}
		break
	}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go s.udp.ActivateAndServe() //nolint:errcheck // stopped by Shutdown below
	go s.tcp.ActivateAndServe() //nolint:errcheck
	<-started
	<-started
	t.Cleanup(func() {
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
	return s
}

// Resolver returns a resolver that asks only this server.
func (s *Server) Resolver() dns.Resolver { return dns.New(s.Addr) }

// Add adds records in zone-file syntax, e.g. "example.test. MX 10 mx.example.test."
// A long TXT value may be given as one string; it is split into 255-byte chunks.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	for _, r := range records {
		rr, err := mdns.NewRR(r)
		if err != nil {
			t.Fatalf("dnstest: bad record %q: %v", r, err)
		}
		if txt, ok := rr.(*mdns.TXT); ok {
			txt.Txt = splitTXT(txt.Txt)
		}
		s.mu.Lock()
		k := strings.ToLower(rr.Header().Name)
		s.records[k] = append(s.records[k], rr)
		s.mu.Unlock()
	}
}

// SetTXT replaces every TXT record of name with one record holding value.
func (s *Server) SetTXT(name, value string) {
	name = mdns.Fqdn(strings.ToLower(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep []mdns.RR
	for _, rr := range s.records[name] {
		if _, ok := rr.(*mdns.TXT); !ok {
			keep = append(keep, rr)
		}
	}
	txt := &mdns.TXT{
		Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 60},
		Txt: splitTXT([]string{value}),
	}
	s.records[name] = append(keep, txt)
}

// Remove deletes every record of name (of any type).
func (s *Server) Remove(name string) {
	s.mu.Lock()
	delete(s.records, mdns.Fqdn(strings.ToLower(name)))
	s.mu.Unlock()
}

// ServFail makes every query for name answer SERVFAIL (a temporary error),
// or answer normally again when on is false.
func (s *Server) ServFail(name string, on bool) {
	s.mu.Lock()
	s.servfail[mdns.Fqdn(strings.ToLower(name))] = on
	s.mu.Unlock()
}

func splitTXT(parts []string) []string {
	joined := strings.Join(parts, "")
	var out []string
	for len(joined) > 255 {
		out = append(out, joined[:255])
		joined = joined[255:]
	}
	return append(out, joined)
}

// ServeDNS answers from the record map: NXDOMAIN for unknown names, NODATA
// for known names without the asked type, CNAMEs followed once.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		w.WriteMsg(m) //nolint:errcheck
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	fail := s.servfail[name]
	rrs, known := s.records[name]
	var answer []mdns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype || q.Qtype == mdns.TypeANY {
			answer = append(answer, mdns.Copy(rr))
		} else if c, ok := rr.(*mdns.CNAME); ok {
			answer = append(answer, mdns.Copy(rr))
			for _, rr2 := range s.records[strings.ToLower(c.Target)] {
				if rr2.Header().Rrtype == q.Qtype {
					answer = append(answer, mdns.Copy(rr2))
				}
			}
		}
	}
	s.mu.Unlock()
	switch {
	case fail:
		m.Rcode = mdns.RcodeServerFailure
	case !known:
		m.Rcode = mdns.RcodeNameError
	default:
		m.Answer = answer
	}
	if err := w.WriteMsg(m); err != nil {
		fmt.Println("dnstest: write:", err)
	}
}

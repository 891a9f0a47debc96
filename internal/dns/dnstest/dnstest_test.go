package dnstest

import (
	"context"
	"testing"

	"github.com/kantorpos/kantorpos/internal/dns"
)

func TestServer(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.Add(t,
		"example.test. MX 10 mx.example.test.",
		"mx.example.test. A 127.0.0.1",
		"mx.example.test. AAAA ::1",
	)
	long := make([]byte, 600)
	for i := range long {
		long[i] = 'a'
	}
	s.SetTXT("example.test", "v=spf1 "+string(long))
	r := s.Resolver()
	ctx := context.Background()

	mx, err := r.LookupMX(ctx, "example.test")
	if err != nil || len(mx) != 1 || mx[0].Host != "mx.example.test." || mx[0].Pref != 10 {
		t.Fatalf("MX = %v, %v", mx, err)
	}
	ips, err := r.LookupIPAddr(ctx, "mx.example.test")
	if err != nil || len(ips) != 2 {
		t.Fatalf("IPs = %v, %v", ips, err)
	}
	txt, err := r.LookupTXT(ctx, "example.test")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 "+string(long) {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	_, err = r.LookupMX(ctx, "nowhere.test")
	if !dns.IsNotFound(err) || dns.IsTemporary(err) {
		t.Fatalf("unknown name: err = %v, want not found", err)
	}
	s.ServFail("example.test", true)
	_, err = r.LookupMX(ctx, "example.test")
	if err == nil || !dns.IsTemporary(err) {
		t.Fatalf("servfail: err = %v, want temporary", err)
	}
}

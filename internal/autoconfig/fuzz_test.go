package autoconfig

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseRequest: any body parses or fails, never panics, and what it
// returns is bounded.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(adBody))
	f.Add([]byte(`<Autodiscover><Request><EMailAddress>a@b.test</EMailAddress></Request></Autodiscover>`))
	f.Add([]byte(`<?xml version="1.0" encoding="utf-16"?><Autodiscover/>`))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY e "x">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`))
	f.Add([]byte(strings.Repeat("<a>", 20000)))
	f.Add([]byte(`<x:Autodiscover xmlns:x="urn:other"><x:Request><x:EMailAddress>a@b</x:EMailAddress></x:Request></x:Autodiscover>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		addr, err := ParseRequest(bytes.NewReader(data))
		if err != nil {
			return
		}
		if addr == "" || len(addr) > MaxRequestBody {
			t.Fatalf("address %q", addr)
		}
		if a, ok := address(addr); ok {
			if _, ok := Autodiscover(standard, a.String()); !ok {
				t.Fatal("no document")
			}
		}
	})
}

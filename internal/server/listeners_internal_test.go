package server

import (
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
)

// Every listener the server runs is described in Listeners (what
// `kantorpos status` probes).
func TestListenersCoverServices(t *testing.T) {
	t.Parallel()
	c := config.Default()
	described := map[string]bool{}
	for _, l := range Listeners(c) {
		described[l.Name] = true
		if l.Addr[:10] != "127.0.0.1:" {
			t.Errorf("%s: %s is not reached on loopback", l.Name, l.Addr)
		}
	}
	s := &Server{Config: c}
	for _, d := range s.services() {
		if !described[d.name] {
			t.Errorf("listener %s is missing from Listeners", d.name)
		}
	}
}

package delivery

import (
	"context"
	"testing"
)

// BenchmarkDeliver measures one message to one recipient, delivered one
// after another to a go-smtp receiver on loopback, with and without the
// connection pool, in plaintext and with STARTTLS. The difference is what
// the pool saves per message: connect, greeting, EHLO (and the TLS
// handshake) against one RSET.
func BenchmarkDeliver(b *testing.B) {
	for _, bc := range []struct {
		name     string
		startTLS bool
		pool     bool
	}{
		{"plain/pool", false, true},
		{"plain/nopool", false, false},
		{"starttls/pool", true, true},
		{"starttls/nopool", true, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := setup(b, recvConfig{startTLS: bc.startTLS}, mxRecords, func(c *Config) { c.Pool.Disable = !bc.pool })
			m := newMsg(simpleBody, "bob@b.test")
			ctx := context.Background()
			for b.Loop() {
				if r := f.tr.Deliver(ctx, m)[0]; r.Status != Delivered {
					b.Fatalf("%v %d %s (err %v)", r.Status, r.Code, r.Message, r.Err)
				}
			}
		})
	}
}

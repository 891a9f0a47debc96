package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

// BenchmarkDeliver measures what an SMTP "250" costs the store: write the
// blob, then one Deliver to one local recipient (of 20), concurrently.
func BenchmarkDeliver(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			var s *Store
			if dialect == "postgres" {
				s = openPG(b, pgtest.NewDatabase(b), newFakeClock(), Options{MaxConns: 16})
			} else {
				dir := b.TempDir()
				fs, err := blob.NewFS(filepath.Join(dir, "blobs"), 0)
				mustT(b, err)
				s, err = Open(ctx, Options{Path: filepath.Join(dir, "k.db"), Blobs: fs})
				mustT(b, err)
				b.Cleanup(func() { s.Close() })
			}
			mustT(b, s.AddDomain(ctx, "example.test"))
			var accounts []int64
			for i := range 20 {
				a, err := s.CreateAccount(ctx, fmt.Sprintf("u%d@example.test", i), "h")
				mustT(b, err)
				accounts = append(accounts, a.ID)
			}
			var n atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					ref := storetest.PutBlob(b, s.Blobs(), storetest.Msg(fmt.Sprint("m", i), "hello"))
					if _, err := s.Deliver(ctx, &store.Delivery{Blob: ref, Meta: storetest.Meta(fmt.Sprint("m", i), "hello"),
						Local: []store.LocalDelivery{{AccountID: accounts[i%20]}}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

package sqlstore

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/store/storetest"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openPG opens a store on database dsn, closed when t ends.
func openPG(t testing.TB, dsn string, fc *clock.Fake, o Options) *Store {
	t.Helper()
	o.Driver, o.DSN, o.Clock = "postgres", dsn, fc
	if o.MaxConns == 0 {
		o.MaxConns = 4
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newFakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Env {
		fc := newFakeClock()
		s := openPG(t, pgtest.NewDatabase(t), fc, Options{})
		return storetest.Env{Store: s, Blobs: s.Blobs(), Clock: fc}
	})
}

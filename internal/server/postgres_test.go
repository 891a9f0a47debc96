package server_test

import (
	"os"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
	"github.com/kantorpos/kantorpos/internal/testenv"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The same flow on PostgreSQL (storage.driver = "postgres"): message
// bodies go to the database, not to the data directory.
func TestSMTPThenPOP3OnPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	smtpThenPOP3(t, testenv.Options{Configure: func(c *config.Config) {
		c.Storage.Driver, c.Storage.DSN = "postgres", dsn
	}})
}

func TestPostgresKeepsBodiesInTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) {
		c.Storage.Driver, c.Storage.DSN = "postgres", dsn
	}})
	if _, ok := e.Server.Blobs.(*sqlstore.PGBlobs); !ok {
		t.Fatalf("blob store = %T, want *sqlstore.PGBlobs", e.Server.Blobs)
	}
}

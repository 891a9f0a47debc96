package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var fsync, db string
	if err := conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_database()`).Scan(&fsync, &db); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || db == "postgres" {
		t.Fatalf("fsync = %s, database = %s", fsync, db)
	}
}

func TestStopStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewCluster(t)
	ping := func() error {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if ping() == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5/postgres?sslmode=disable": "postgres://u:p@h:5/x?sslmode=disable",
		"host=h user=u": "host=h user=u dbname=x",
	} {
		if got, err := withDatabase(in, "x"); err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v", in, got, err)
		}
	}
}

// recTB records what a helper asks of the test instead of ending it.
type recTB struct {
	testing.TB
	skipped, failed string
}

func (r *recTB) Helper() {}
func (r *recTB) Skipf(f string, a ...any) {
	r.skipped = fmt.Sprintf(f, a...)
}
func (r *recTB) Fatalf(f string, a ...any) {
	r.failed = fmt.Sprintf(f, a...)
}

// Without PostgreSQL, tests skip naming the Debian package, and fail in CI.
func TestMissingPostgres(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findBin(filepath.Join(t.TempDir(), "*", "bin"))
	if !errors.Is(err, errMissing) {
		t.Fatalf("findBin = %v", err)
	}
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recTB{TB: t}
		unavailable(r, err)
		msg := r.skipped
		if ci == "true" {
			msg = r.failed
		}
		if !strings.Contains(msg, "Debian package postgresql") || (r.skipped != "") == (r.failed != "") {
			t.Errorf("CI=%q: skipped %q, failed %q", ci, r.skipped, r.failed)
		}
	}
	if dir, err := findBin(debianBins); err == nil && !strings.HasSuffix(dir, "/bin") {
		t.Errorf("findBin = %q", dir)
	}
}

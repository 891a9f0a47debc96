// Package pgtest gives tests a throwaway PostgreSQL: one cluster per test
// binary (initdb in a temporary directory, a loopback port, fsync on),
// started on first use, with a fresh database per test. Tests that must
// stop and start the server get a private cluster (NewCluster).
//
// PGTEST_DSN, when set, names an existing server to use instead (the role
// needs CREATEDB); tests that stop the server are skipped then. When the
// PostgreSQL programs are missing, tests are skipped with the Debian
// package to install, or fail when CI=true.
//
// Run as root (as CI does), the server runs as the "postgres" user, which
// Debian's postgresql package creates.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DebianPackage provides initdb and pg_ctl.
const DebianPackage = "postgresql"

// shared is the cluster of this test binary. It is package state on
// purpose: TestMain (Main) owns its lifetime, tests share it.
var shared struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	started bool
	c       *Cluster
	err     error
}

// Main runs the tests and then stops and removes the shared cluster, if
// one was started. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c != nil {
		if err := shared.c.Remove(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: removing the test cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// NewDatabase creates an empty database for t on the shared server and
// returns its connection string; the database is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("PGTEST_DSN")
	if base == "" {
		shared.mu.Lock()
		if !shared.main {
			shared.mu.Unlock()
			t.Fatal("pgtest: call pgtest.Main from TestMain (it stops the shared cluster)")
		}
		if !shared.started {
			shared.started = true
			shared.c, shared.err = startCluster()
		}
		c, err := shared.c, shared.err
		shared.mu.Unlock()
		if err != nil {
			unavailable(t, err)
		}
		base = c.DSN("postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "kp_test_" + randomHex(6)
	if err := adminExec(ctx, base, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, base, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// NewCluster starts a private cluster for t, removed when t ends. With
// PGTEST_DSN set the test is skipped: it cannot stop a server it does not own.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	if os.Getenv("PGTEST_DSN") != "" {
		t.Skip("pgtest: PGTEST_DSN is set; this test stops and starts its own server")
	}
	c, err := startCluster()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Remove(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// errMissing means the PostgreSQL programs (or the postgres user) are missing.
var errMissing = errors.New("PostgreSQL is not installed")

func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errMissing) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: %v: CI must install the Debian package %s (.ci/run)", err, DebianPackage)
			return
		}
		t.Skipf("pgtest: %v: install the Debian package %s (or set PGTEST_DSN) to run this test", err, DebianPackage)
		return
	}
	t.Fatalf("pgtest: %v", err)
}

// Cluster is a PostgreSQL server in a temporary directory.
type Cluster struct {
	Dir  string // holds data/ and the Unix socket
	Port int
	bin  string // directory of initdb, pg_ctl
	run  []string
}

// DSN returns the connection string of database db (superuser "postgres",
// trust authentication on loopback).
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// cmd runs a PostgreSQL program, as the postgres user when we are root.
func (c *Cluster) cmd(name string, args ...string) error {
	argv := append(append(append([]string{}, c.run...), filepath.Join(c.bin, name)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// Start starts the server (again) and waits until it accepts connections.
func (c *Cluster) Start() error {
	return c.cmd("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", filepath.Join(c.Dir, "server.log"))
}

// Stop stops the server, disconnecting every client (fast shutdown).
func (c *Cluster) Stop() error {
	return c.cmd("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", c.data())
}

// Remove stops the server if it runs and deletes its directory.
func (c *Cluster) Remove() error {
	var err error
	if _, serr := os.Stat(filepath.Join(c.data(), "postmaster.pid")); serr == nil {
		err = c.cmd("pg_ctl", "stop", "-w", "-t", "60", "-m", "immediate", "-D", c.data())
	}
	if rerr := os.RemoveAll(c.Dir); err == nil {
		err = rerr
	}
	return err
}

// startCluster runs initdb and starts a server on a free loopback port.
func startCluster() (*Cluster, error) {
	bin, err := findBin(debianBins)
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		// The server refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: no postgres user to run the server as (%v)", errMissing, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			return nil, fmt.Errorf("pgtest: runuser not found (util-linux): %w", err)
		}
		c.run = []string{runuser, "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp(postgresTempDir(), "kantorpos-pg-")
	if err != nil {
		return nil, err
	}
	c.Dir = dir
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// --no-sync skips flushing the initial files (seconds on a slow disk);
	// the server itself runs with fsync on.
	if err := c.cmd("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-instructions", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var last error
	for range 5 {
		if c.Port, err = freePort(); err != nil {
			break
		}
		// fsync on: the tests check durability claims, not just behaviour.
		conf := fmt.Sprintf("\n# pgtest\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
			"fsync = on\nsynchronous_commit = on\nmax_connections = 400\nshared_buffers = 32MB\n", c.Port, c.Dir)
		f, err := os.OpenFile(filepath.Join(c.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			break
		}
		_, err = f.WriteString(conf)
		f.Close()
		if err != nil {
			break
		}
		if last = c.Start(); last == nil {
			return c, nil
		}
	}
	if last == nil {
		last = err
	}
	c.Remove()
	return nil, fmt.Errorf("pgtest: start: %w", last)
}

// postgresTempDir is where the cluster directory goes: the temporary
// directory if the postgres user can reach it, else /tmp.
func postgresTempDir() string {
	d := os.TempDir()
	for p := d; p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
	}
	return d
}

// debianBins is where Debian installs each PostgreSQL version's programs.
const debianBins = "/usr/lib/postgresql/*/bin"

// findBin finds the directory of initdb and pg_ctl: PATH first, then
// Debian's /usr/lib/postgresql/<version>/bin (newest version).
func findBin(debianBins string) (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob(debianBins)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w (no initdb on PATH or in %s)", errMissing, debianBins)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase replaces the database of a connection string (URL or
// keyword/value form).
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: PGTEST_DSN: %w", err)
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	return dsn + " dbname=" + db, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Package testenv starts a whole kantorpos in-process for tests: every
// listener on an ephemeral loopback port, a temporary data directory, a
// fake clock and a DNS server on loopback. Two Envs in one test can
// exchange mail through a shared DNS server.
package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/server"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testutil"
)

// Options adjust the server a test starts.
type Options struct {
	// Hostname of the server (default mx.example.test).
	Hostname string
	// DNS is the DNS server to use; nil starts a new one.
	DNS *dnstest.Server
	// Clock; nil makes a fake clock at 2026-11-26 10:00 UTC.
	Clock *clock.Fake
	// Configure changes the configuration before the server starts.
	Configure func(*config.Config)
	// DataDir reuses a data directory (a restart); "" makes a new one.
	DataDir string
	// LogLevel of the server's log written to the test log (default warn).
	LogLevel slog.Level
	// LogWriter, when set, gets the server's log lines too (tests that
	// read them).
	LogWriter io.Writer
	// HashParams of password hashing (default auth.TestParams, cheap);
	// timing tests use auth.DefaultParams.
	HashParams *auth.Params
}

// Env is a running server.
type Env struct {
	T      testing.TB
	Server *server.Server
	Store  store.Store
	Clock  *clock.Fake
	DNS    *dnstest.Server
	// Addr maps listener names (smtp, submission, submissions, imap,
	// imaps, pop3, pop3s, admin, http, https) to "127.0.0.1:port".
	Addr map[string]string
	// ClientTLS trusts the server's certificate (ServerName localhost).
	ClientTLS *tls.Config
	DataDir   string
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Hostname == "" {
		o.Hostname = "mx.example.test"
	}
	if o.DNS == nil {
		o.DNS = dnstest.New(t)
	}
	if o.Clock == nil {
		o.Clock = clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	c := config.Dev()
	c.Hostname = o.Hostname
	c.DataDir = o.DataDir
	c.DNS.Server = o.DNS.Addr
	c.Storage.MinFreeDisk = 0
	c.Log.Level = "debug"
	for _, p := range []*string{&c.SMTP.Listen, &c.Submission.Listen, &c.Submission.ListenTLS, &c.IMAP.Listen,
		&c.IMAP.ListenTLS, &c.POP3.Listen, &c.POP3.ListenTLS, &c.Admin.Listen, &c.Web.Listen, &c.Web.ListenTLS,
		&c.ManageSieve.Listen} {
		*p = "127.0.0.1:0"
	}
	if o.Configure != nil {
		o.Configure(&c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("testenv: config: %v", err)
	}
	level := o.LogLevel
	if level == 0 {
		level = slog.LevelWarn
	}
	var w io.Writer = tWriter{t}
	if o.LogWriter != nil {
		w = io.MultiWriter(w, o.LogWriter)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("server", o.Hostname)
	params := auth.TestParams
	if o.HashParams != nil {
		params = *o.HashParams
	}
	srv, err := server.New(context.Background(), server.Options{
		Config: c, Clock: o.Clock, Resolver: o.DNS.Resolver(), Log: log, HashParams: &params,
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("testenv: start: %v", err)
	}
	e := &Env{T: t, Server: srv, Store: srv.Store, Clock: o.Clock, DNS: o.DNS, Addr: srv.Addrs(), DataDir: c.DataDir}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(c.DataDir, "tls", "selfsigned.crt"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pool.AppendCertsFromPEM(pem)
	e.ClientTLS = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	t.Cleanup(func() { e.Stop() })
	return e
}

// Stop shuts the server down (idempotent). Restart with Start and the same DataDir.
func (e *Env) Stop() {
	if e.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.Server.Shutdown(ctx)
	e.Server = nil
}

// AddUser creates an account (and its domain when needed).
func (e *Env) AddUser(t testing.TB, address, password string) store.Account {
	t.Helper()
	ctx := context.Background()
	domain := address[strings.LastIndexByte(address, '@')+1:]
	if ok, _ := e.Store.HasDomain(ctx, domain); !ok {
		if err := e.Server.Ops.AddDomain(ctx, domain); err != nil {
			t.Fatalf("testenv: add domain: %v", err)
		}
	}
	a, err := e.Server.Ops.AddUser(ctx, address, password)
	if err != nil {
		t.Fatalf("testenv: add user: %v", err)
	}
	return a
}

// Inbox returns the INBOX of an account.
func (e *Env) Inbox(t testing.TB, accountID int64) store.Mailbox {
	t.Helper()
	m, err := e.Store.Mailbox(context.Background(), accountID, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// NeedCommand is testutil.NeedCommand.
func NeedCommand(t testing.TB, name, debianPackage string) string {
	t.Helper()
	return testutil.NeedCommand(t, name, debianPackage)
}

// Python is testutil.Python.
func Python(t testing.TB, module, debianPackage string) string {
	t.Helper()
	return testutil.Python(t, module, debianPackage)
}

// WaitFor is testutil.WaitFor.
func WaitFor(t testing.TB, deadline time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, deadline, what, cond)
}

// tWriter sends log lines to the test log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

package server_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
	"github.com/kantorpos/kantorpos/internal/store"
	"github.com/kantorpos/kantorpos/internal/testenv"
	"github.com/kantorpos/kantorpos/internal/testenv/pgtest"
)

// cluster is two kantorpos nodes on one PostgreSQL database, sharing a
// fake clock and a loopback DNS server, delivering remote mail to the SMTP
// port of a third, ordinary server R (domain r.test).
type cluster struct {
	dns   *dnstest.Server
	clock *clock.Fake
	dsn   string
	nodes [2]*testenv.Env
	r     *testenv.Env
	rPort int
	rData string
}

func (c *cluster) node(t *testing.T, i int) *testenv.Env {
	t.Helper()
	name := "node" + strconv.Itoa(i+1) + ".example.test"
	return testenv.Start(t, testenv.Options{Hostname: name, DNS: c.dns, Clock: c.clock,
		Configure: func(cfg *config.Config) {
			cfg.Storage.Driver, cfg.Storage.DSN = "postgres", c.dsn
			cfg.Queue.Port = c.rPort
		}})
}

func (c *cluster) startR(t *testing.T, port string) {
	t.Helper()
	c.r = testenv.Start(t, testenv.Options{Hostname: "mx.r.test", DNS: c.dns, Clock: c.clock, DataDir: c.rData,
		Configure: func(cfg *config.Config) {
			if port != "" {
				cfg.SMTP.Listen = "127.0.0.1:" + port
			}
		}})
	c.rData = c.r.DataDir
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{dns: dnstest.New(t), clock: clock.NewFake(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)),
		dsn: pgtest.NewDatabase(t)}
	c.startR(t, "")
	_, p, _ := net.SplitHostPort(c.r.Addr["smtp"])
	c.rPort, _ = strconv.Atoi(p)
	c.dns.Add(t, "r.test. MX 10 mx.r.test.", "mx.r.test. A 127.0.0.1")
	c.nodes[0] = c.node(t, 0)
	c.nodes[1] = c.node(t, 1)
	return c
}

// Mail accepted by node 1 is read on node 2; remote mail queued while the
// destination is down is left half-done by node 1 when it dies, and node 2
// finishes it after node 1's leases expire.
func TestTwoNodesShareMailAndQueue(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	n1, n2 := c.nodes[0], c.nodes[1]
	n1.AddUser(t, "amy@example.test", "amy's password")
	rcv := c.r.AddUser(t, "rita@r.test", "rita's password")

	// In through node 1 (MX), out through node 2 (POP3).
	smtpThenPOP3On(t, n1, n2)

	// Remote mail while R is down: both nodes' runners try and defer.
	_, rPort, _ := net.SplitHostPort(c.r.Addr["smtp"])
	c.r.Stop()
	for i := range 6 {
		submit(t, n1, "amy@example.test", "amy's password", "amy@example.test", []string{"rita@r.test"},
			"From: amy@example.test\r\nSubject: cluster "+strconv.Itoa(i)+"\r\n\r\nhi\r\n")
	}
	testenv.WaitFor(t, 30*time.Second, "every entry to be tried once", func() bool {
		q, _ := n1.Store.QueueEntries(ctx, store.QueueFilter{})
		for _, e := range q {
			if e.Attempts == 0 {
				return false
			}
		}
		return len(q) == 6
	})
	// Node 1 takes all six for its next attempt, then dies without a word.
	c.clock.Advance(15 * time.Minute)
	leased, err := n1.Store.LeaseQueue(ctx, c.clock.Now(), "node1.example.test", 30*time.Minute, 10)
	if err != nil || len(leased) != 6 {
		t.Fatalf("node 1 lease: %d, %v", len(leased), err)
	}
	n1.Stop()
	c.startR(t, rPort)
	// Node 2 may not touch them while node 1's lease runs...
	n2.Server.Queue.Kick()
	time.Sleep(100 * time.Millisecond)
	if got := len(inboxContents(t, c.r, rcv.ID)); got != 0 {
		t.Fatalf("node 2 delivered %d entries leased by node 1", got)
	}
	// ...and finishes them once it expired.
	c.clock.Advance(31 * time.Minute)
	n2.Server.Queue.Kick()
	testenv.WaitFor(t, 30*time.Second, "node 2 to deliver node 1's work", func() bool {
		return len(inboxContents(t, c.r, rcv.ID)) == 6
	})
	testenv.WaitFor(t, 10*time.Second, "the shared queue to empty", func() bool { return queueLen(t, n2) == 0 })
}

// A client IDLE-ing on node 2 sees mail that node 1 accepted, at once.
func TestTwoNodesIdle(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	n1, n2 := c.nodes[0], c.nodes[1]
	n1.AddUser(t, "carl@example.test", "carl's password")
	exists, stop := idleClient(t, n2, "carl@example.test", "carl's password")
	defer stop()
	cl, err := smtp.Dial(n1.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	if err := send(t, cl, "a@ext.test", []string{"carl@example.test"}, "From: a@ext.test\r\nSubject: cross\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "EXISTS on node 2", func() bool { return exists.Load() == 1 })
	t.Logf("node 1 SMTP to node 2 IDLE: %v", time.Since(start))
}

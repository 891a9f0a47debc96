package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/e2e/binary"
)

// Kill points: a worker calls hit(phase) at the moment named, and when the
// controller has armed that phase the server is killed then (after a
// random delay of up to 3 ms, so the kill lands inside the server's work:
// spooling, fsync, commit, or the reply).
var phases = []string{
	"smtp-mid",   // MX DATA: half the message sent
	"smtp-dot",   // MX DATA: final dot sent, reply not read
	"queue-mid",  // the queue is sending DATA to the sink: half received
	"queue-end",  // the sink has the whole message, has not replied
	"append-mid", // IMAP APPEND: half the literal sent
	"append-end", // IMAP APPEND: literal sent, tagged reply not read
	"pop3-dele",  // POP3: DELE done, QUIT not sent
	"pop3-quit",  // POP3: QUIT sent, reply not read
	"random",     // no aim: whatever the server is doing
}

// controller owns the server process: workers ask it whether the server
// is up and wait for it to come back after a kill.
type controller struct {
	t   *testing.T
	srv *binary.Server

	mu    sync.Mutex
	gen   int
	up    bool
	upCh  chan struct{} // closed when gen is up
	armed string
	// pending: a kill point was hit and the kill is on its way.
	pending bool
	fired   chan string // the phase whose kill happened
	kills   map[string]int

	errMu      sync.Mutex
	unexpected []string
}

func newController(t *testing.T, srv *binary.Server) *controller {
	return &controller{t: t, srv: srv, upCh: make(chan struct{}), kills: map[string]int{}}
}

func (c *controller) start() {
	c.srv.Start()
	c.mu.Lock()
	c.gen++
	c.up = true
	close(c.upCh)
	c.mu.Unlock()
}

// state returns the generation and whether it is up.
func (c *controller) state() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.up
}

// arm makes the next hit(phase) kill the server; fired receives the phase.
func (c *controller) arm(phase string) chan string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = phase
	c.fired = make(chan string, 1)
	return c.fired
}

// hit is a kill point.
func (c *controller) hit(phase string) {
	c.mu.Lock()
	if c.armed != phase || !c.up {
		c.mu.Unlock()
		return
	}
	c.armed = ""
	c.pending = true
	fired := c.fired
	c.mu.Unlock()
	d := time.Duration(rand.IntN(3000)) * time.Microsecond
	time.AfterFunc(d, func() {
		c.kill(phase)
		fired <- phase
	})
}

// kill SIGKILLs the server. Workers' errors from now on are expected.
func (c *controller) kill(phase string) {
	c.mu.Lock()
	if !c.up {
		c.mu.Unlock()
		return
	}
	c.up = false
	c.armed = ""
	c.pending = false
	c.upCh = make(chan struct{})
	c.kills[phase]++
	c.mu.Unlock()
	c.srv.Kill()
}

// failed handles a worker's error in generation gen: an error while that
// generation is still up was not caused by a kill and is recorded as a
// failure. Then it waits for a newer generation (false when ctx ends).
func (c *controller) failed(ctx context.Context, gen int, what string, err error) bool {
	c.mu.Lock()
	if c.gen == gen && c.up && !c.pending {
		c.errMu.Lock()
		c.unexpected = append(c.unexpected, fmt.Sprintf("%s (server up, generation %d): %v", what, gen, err))
		c.errMu.Unlock()
	}
	c.mu.Unlock()
	return c.waitNewer(ctx, gen)
}

// waitNewer waits until a generation after gen is up.
func (c *controller) waitNewer(ctx context.Context, gen int) bool {
	for {
		c.mu.Lock()
		g, up, ch := c.gen, c.up, c.upCh
		c.mu.Unlock()
		if g > gen && up {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (c *controller) killSummary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []string
	for k := range c.kills {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	s := ""
	for _, k := range ks {
		s += fmt.Sprintf(" %s=%d", k, c.kills[k])
	}
	return s
}

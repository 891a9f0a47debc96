package delivery

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errClosed is returned once the Transport is closed.
var errClosed = errors.New("delivery: transport closed")

// conns counts connections per host and in total, and keeps a few idle
// connections per host for the next message. A connection holds its slot
// from dial to close, idle or not. Callers that find no slot block until
// one frees or their context ends; when only the total limit is in the
// way, an idle connection to another host is closed to make room.
type conns struct {
	maxHost, maxTotal int
	pool              PoolConfig

	mu      sync.Mutex
	perHost map[string]int
	total   int
	idle    map[string][]*client // per key, oldest first
	wake    chan struct{}        // closed and replaced when a slot frees or a connection goes idle
	closed  bool
	wg      sync.WaitGroup // idle timers and their QUITs
}

func newConns(maxHost, maxTotal int, pool PoolConfig) *conns {
	return &conns{
		maxHost: maxHost, maxTotal: maxTotal, pool: pool,
		perHost: map[string]int{},
		idle:    map[string][]*client{},
		wake:    make(chan struct{}),
	}
}

func (p *conns) signal() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// acquire returns an idle connection for key, or nil and a reserved slot
// for a new connection, which the caller must give back with release if
// the dial fails, or hand over with put or discard.
func (p *conns) acquire(ctx context.Context, key string) (*client, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errClosed
		}
		if c := p.popIdle(key); c != nil {
			p.mu.Unlock()
			return c, nil
		}
		if p.perHost[key] < p.maxHost {
			if p.total < p.maxTotal {
				p.perHost[key]++
				p.total++
				p.mu.Unlock()
				return nil, nil
			}
			if victim := p.popOldestIdle(); victim != nil {
				// Hand the victim's slot over to us.
				p.dec(victim.key)
				p.perHost[key]++
				p.total++
				p.mu.Unlock()
				victim.quit()
				return nil, nil
			}
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

// release gives back a slot reserved by acquire whose dial failed.
func (p *conns) release(key string) {
	p.mu.Lock()
	p.dec(key)
	p.signal()
	p.mu.Unlock()
}

func (p *conns) dec(key string) {
	p.total--
	if p.perHost[key]--; p.perHost[key] <= 0 {
		delete(p.perHost, key)
	}
}

// discard closes a connection that must not be reused and frees its slot.
func (p *conns) discard(c *client) {
	c.raw.Close()
	p.release(c.key)
}

// put returns a healthy connection after a transaction. It is kept idle
// for the next message to the same host, or closed with QUIT.
func (p *conns) put(c *client) {
	p.mu.Lock()
	if p.closed || p.pool.Disable || c.msgs >= p.pool.MaxMessages || len(p.idle[c.key]) >= p.pool.MaxIdle {
		p.mu.Unlock()
		c.quit()
		p.release(c.key)
		return
	}
	p.idle[c.key] = append(p.idle[c.key], c)
	p.wg.Add(1)
	c.idle = time.AfterFunc(p.pool.IdleTimeout, func() {
		defer p.wg.Done()
		p.mu.Lock()
		found := p.removeIdle(c)
		p.mu.Unlock()
		if found {
			c.quit()
			p.release(c.key)
		}
	})
	p.signal()
	p.mu.Unlock()
}

// popIdle takes the most recently used idle connection for key.
func (p *conns) popIdle(key string) *client {
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	p.removeIdle(c)
	return c
}

// popOldestIdle takes the idle connection that has waited longest.
func (p *conns) popOldestIdle() *client {
	var oldest *client
	for _, list := range p.idle {
		if len(list) > 0 && (oldest == nil || list[0].lastUse.Before(oldest.lastUse)) {
			oldest = list[0]
		}
	}
	if oldest != nil {
		p.removeIdle(oldest)
	}
	return oldest
}

// removeIdle removes c from the idle lists and stops its timer; it reports
// whether c was idle. Called with mu held.
func (p *conns) removeIdle(c *client) bool {
	list := p.idle[c.key]
	for i, x := range list {
		if x != c {
			continue
		}
		list = append(list[:i:i], list[i+1:]...)
		if len(list) == 0 {
			delete(p.idle, c.key)
		} else {
			p.idle[c.key] = list
		}
		if c.idle.Stop() {
			p.wg.Done() // the timer will not run
		}
		return true
	}
	return false
}

// close closes every idle connection and makes later puts close theirs.
func (p *conns) close() {
	p.mu.Lock()
	p.closed = true
	var all []*client
	for _, list := range p.idle {
		all = append(all, list...)
	}
	for _, c := range all {
		p.removeIdle(c)
	}
	p.signal()
	p.mu.Unlock()
	for _, c := range all {
		c.quit()
		p.release(c.key)
	}
	p.wg.Wait()
}

// Package queue is the outbound queue runner: it leases due entries from
// the durable queue in the store, hands each to the remote SMTP transport,
// records the result per recipient, retries on the schedule (every 15
// minutes by default), warns the sender of delays and, when delivery fails
// or the message is too old (5 days by default), sends the sender a
// delivery status notification. An entry leaves the store only after every
// recipient is delivered or bounced; a crash at any point leads to a
// duplicate attempt, never to a lost message.
package queue

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/clock"
	"github.com/kantorpos/kantorpos/internal/delivery"
	"github.com/kantorpos/kantorpos/internal/events"
	"github.com/kantorpos/kantorpos/internal/localmail"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Store is the part of the store the runner uses.
type Store interface {
	store.Queue
}

// Blobs opens message bodies.
type Blobs interface {
	Open(ctx context.Context, hash string) (blob.Reader, error)
}

// Transport delivers one message to the recipients of one domain;
// *delivery.Transport satisfies it.
type Transport interface {
	Deliver(ctx context.Context, m *delivery.Message) []delivery.RcptResult
}

// Injector files a message we generate (a DSN) for recipients, local or
// remote, with envelope sender from ("" = <>); *localmail.Injector
// satisfies it.
type Injector interface {
	Inject(ctx context.Context, from string, to []string, content []byte) (localmail.Result, error)
}

// Config is the schedule.
type Config struct {
	// Hostname is the reporting MTA in DSNs.
	Hostname string
	// RetryInterval between attempts (default 15 minutes).
	RetryInterval time.Duration
	// MaxAge after which undelivered mail is bounced (default 5 days).
	MaxAge time.Duration
	// DelayWarning after which the sender is told once that mail is
	// delayed (default 4 hours; negative disables it).
	DelayWarning time.Duration
	// Workers is how many entries are delivered at once (default 16).
	Workers int
	// LeaseFor is how long an entry is held by this runner (default 30
	// minutes, longer than any attempt can take).
	LeaseFor time.Duration
	// Poll is how often the store is checked for due entries besides Kick
	// (default 1 second, so admin commands take effect within a second).
	Poll time.Duration
	// Owner names this runner in leases; it must be stable across
	// restarts of the same node and unique per node (default: host name).
	Owner string
	// Events writes and counts the mail events (nil: written, not counted).
	Events *events.Log
}

func (c Config) withDefaults() Config {
	if c.RetryInterval <= 0 {
		c.RetryInterval = 15 * time.Minute
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 120 * time.Hour
	}
	if c.DelayWarning == 0 {
		c.DelayWarning = 4 * time.Hour
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.LeaseFor <= 0 {
		c.LeaseFor = 30 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Owner == "" {
		c.Owner, _ = os.Hostname()
		if c.Owner == "" {
			c.Owner = "kantorpos-" + rand.Text()[:8]
		}
	}
	return c
}

// Runner runs the queue.
type Runner struct {
	cfg       Config
	store     Store
	blobs     Blobs
	transport Transport
	inject    Injector
	clock     clock.Clock
	log       *slog.Logger

	kick chan struct{}

	mu       sync.Mutex
	inFlight map[int64]bool
}

// New makes a runner.
func New(cfg Config, st Store, blobs Blobs, tr Transport, inj Injector, clk clock.Clock, log *slog.Logger) *Runner {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg.withDefaults(), store: st, blobs: blobs, transport: tr, inject: inj, clock: clk, log: log,
		kick: make(chan struct{}, 1), inFlight: map[int64]bool{}}
}

// Kick makes the runner look for due entries now (new mail was queued).
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run delivers due entries until ctx ends, then waits for attempts under
// way (bounded by the transport's timeouts and ctx).
func (r *Runner) Run(ctx context.Context) error {
	if n, err := r.store.ReleaseLeases(ctx, r.cfg.Owner); err != nil {
		r.log.Warn("queue: release leases", "err", err)
	} else if n > 0 {
		r.log.Info("queue: took back entries held before a restart", "count", n)
	}
	sem := make(chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	for {
		r.dispatch(ctx, sem, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-tick.C:
		}
	}
}

// dispatch leases what is due and starts an attempt for each, as far as
// there are free workers.
func (r *Runner) dispatch(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) {
	for {
		free := cap(sem) - len(sem)
		if free == 0 || ctx.Err() != nil {
			return
		}
		entries, err := r.store.LeaseQueue(ctx, r.clock.Now(), r.cfg.Owner, r.cfg.LeaseFor, free)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("queue: lease", "err", err)
			}
			return
		}
		for _, e := range entries {
			if !r.begin(e.ID) {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem; r.end(e.ID) }()
				if err := r.attempt(ctx, e); err != nil && ctx.Err() == nil {
					r.log.Warn("queue: attempt", "id", e.ID, "err", err)
				}
			}()
		}
		if len(entries) < free {
			return
		}
	}
}

func (r *Runner) begin(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[id] {
		return false
	}
	r.inFlight[id] = true
	return true
}

func (r *Runner) end(id int64) {
	r.mu.Lock()
	delete(r.inFlight, id)
	r.mu.Unlock()
}

// RunOnce delivers every entry due now and returns how many attempts it
// made (for tests and `queue retry`-style tools; Run is the service).
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	n := 0
	for {
		entries, err := r.store.LeaseQueue(ctx, r.clock.Now(), r.cfg.Owner, r.cfg.LeaseFor, r.cfg.Workers)
		if err != nil {
			return n, err
		}
		if len(entries) == 0 {
			return n, nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(entries))
		for _, e := range entries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.attempt(ctx, e); err != nil {
					errs <- fmt.Errorf("entry %d: %w", e.ID, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return n, err
		}
		n += len(entries)
	}
}

// openBody returns the message as sent: the entry's prefix, then the blob.
func (r *Runner) openBody(ctx context.Context, e *store.QueueEntry) (io.ReadCloser, error) {
	b, err := r.blobs.Open(ctx, e.Blob.Hash)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytesReader(e.Prefix), io.NewSectionReader(b, 0, b.Size())), b}, nil
}

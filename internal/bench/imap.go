package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAP operations of the IMAP workload, in the order they run.
const (
	OpLogin         = "login"          // connect, greeting, LOGIN
	OpSelect        = "select"         // SELECT of the (large) mailbox
	OpFetchEnvelope = "fetch_envelope" // FETCH 1:* (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)
	OpFetchHeaders  = "fetch_headers"  // FETCH 1:* BODY.PEEK[HEADER]
	OpFetchBodies   = "fetch_bodies"   // FETCH 1:N BODY.PEEK[]
	OpSearch        = "search"         // UID SEARCH TEXT word, for each word
	OpStore         = "store"          // STORE range +FLAGS.SILENT, then -FLAGS.SILENT
)

// IMAPOps lists every operation.
var IMAPOps = []string{OpLogin, OpSelect, OpFetchEnvelope, OpFetchHeaders, OpFetchBodies, OpSearch, OpStore}

// IMAPOptions configure the IMAP workload.
type IMAPOptions struct {
	Addr    string
	Clients int
	// Users: client i logs in as user FirstUser + i % Users, so several
	// clients may share a mailbox.
	Users       int
	FirstUser   int
	LoginFormat string
	Password    string
	Mailbox     string
	Reps        int      // measured repetitions of the whole sequence
	Warmup      int      // repetitions run first and not counted
	Words       []string // SEARCH TEXT, one measured operation each
	Bodies      int      // messages whose full body is fetched (0: all)
	StoreRange  int      // messages per STORE
	Ops         []string
	Timeout     time.Duration
}

func (o *IMAPOptions) defaults() {
	if o.Clients <= 0 {
		o.Clients = 1
	}
	if o.Users <= 0 {
		o.Users = 1
	}
	if o.FirstUser <= 0 {
		o.FirstUser = 1
	}
	if o.LoginFormat == "" {
		o.LoginFormat = "bench%d@example.test"
	}
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.Reps <= 0 {
		o.Reps = 1
	}
	if len(o.Words) == 0 {
		o.Words = []string{"invoice"}
	}
	if o.StoreRange <= 0 {
		o.StoreRange = 1000
	}
	if len(o.Ops) == 0 {
		o.Ops = IMAPOps
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
}

// opStats accumulate one operation over every client and repetition.
type opStats struct {
	lat   Latencies
	wall  time.Duration // sum of the phases' wall-clock times
	ops   int64
	msgs  int64
	bytes int64
	hits  int64 // SEARCH results, summed
	mu    sync.Mutex
}

func (s *opStats) add(msgs, bytes, hits int64) {
	s.mu.Lock()
	s.ops++
	s.msgs += msgs
	s.bytes += bytes
	s.hits += hits
	s.mu.Unlock()
}

type imapClient struct {
	idx    int
	user   string
	c      *imapclient.Client
	exists uint32
}

// RunIMAP runs the operations of o.Ops as phases: every client does the
// operation at once, the phase ends when the last one is done, then the
// next phase starts. Each repetition logs in again and logs out at the end.
// It returns one result per operation: latency of each client's command
// (p50/p99), operations, messages and MB per second of phase time.
func RunIMAP(ctx context.Context, o IMAPOptions) ([]*Result, error) {
	o.defaults()
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	stats := map[string]*opStats{}
	for _, op := range o.Ops {
		if !slices.Contains(IMAPOps, op) {
			return nil, fmt.Errorf("bench imap: unknown operation %q (have %v)", op, IMAPOps)
		}
		if op == OpSearch {
			for _, w := range o.Words {
				stats[searchKey(w)] = &opStats{}
			}
			continue
		}
		stats[op] = &opStats{}
	}
	d := &dialer{timeout: o.Timeout}
	for rep := 0; rep < o.Warmup+o.Reps; rep++ {
		measured := rep >= o.Warmup
		clients := make([]*imapClient, o.Clients)
		for i := range clients {
			clients[i] = &imapClient{idx: i, user: UserName(o.LoginFormat, o.FirstUser+i%o.Users)}
		}
		// Login always runs: the other operations need it.
		err := phase(ctx, clients, statsFor(stats, OpLogin, measured), func(c *imapClient) (int64, int64, int64, error) {
			conn, err := d.dial(ctx, o.Addr)
			if err != nil {
				return 0, 0, 0, err
			}
			c.c = imapclient.New(conn, &imapclient.Options{})
			if err := c.c.WaitGreeting(); err != nil {
				return 0, 0, 0, fmt.Errorf("greeting: %w", err)
			}
			if err := c.c.Login(c.user, o.Password).Wait(); err != nil {
				return 0, 0, 0, fmt.Errorf("LOGIN %s: %w", c.user, err)
			}
			return 0, 0, 0, nil
		})
		if err == nil {
			err = runIMAPOps(ctx, o, clients, stats, measured)
		}
		for _, c := range clients {
			if c.c != nil {
				c.c.Logout().Wait()
				c.c.Close()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bench imap: %w", err)
		}
	}
	var out []*Result
	for _, op := range o.Ops {
		keys, words := []string{op}, []string{""}
		if op == OpSearch {
			keys, words = nil, o.Words
			for _, w := range o.Words {
				keys = append(keys, searchKey(w))
			}
		}
		for i, k := range keys {
			s := stats[k]
			r := &Result{}
			r.Set("workload", "imap").Set("op", op)
			if words[i] != "" {
				r.Set("word", words[i])
			}
			r.Set("clients", o.Clients).Set("ops", s.ops).
				Set("msgs", s.msgs).Set("MB", float64(s.bytes)/1e6).Set("secs", s.wall).
				Set("ops_per_s", rate(float64(s.ops), s.wall)).Set("msgs_per_s", rate(float64(s.msgs), s.wall)).
				Set("MB_per_s", rate(float64(s.bytes)/1e6, s.wall))
			if op == OpSearch && s.ops > 0 {
				r.Set("hits", s.hits/s.ops)
			}
			s.lat.Report(r, "lat")
			out = append(out, r)
		}
	}
	return out, nil
}

func searchKey(word string) string { return OpSearch + ":" + word }

func statsFor(stats map[string]*opStats, op string, measured bool) *opStats {
	if s, ok := stats[op]; ok && measured {
		return s
	}
	return &opStats{} // not asked for, or a warm-up: thrown away
}

func runIMAPOps(ctx context.Context, o IMAPOptions, clients []*imapClient, stats map[string]*opStats, measured bool) error {
	// SELECT always runs: the other operations need it.
	err := phase(ctx, clients, statsFor(stats, OpSelect, measured), func(c *imapClient) (int64, int64, int64, error) {
		sd, err := c.c.Select(o.Mailbox, nil).Wait()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("SELECT: %w", err)
		}
		c.exists = sd.NumMessages
		if c.exists == 0 {
			return 0, 0, 0, fmt.Errorf("SELECT: %s of %s is empty", o.Mailbox, c.user)
		}
		return int64(sd.NumMessages), 0, 0, nil
	})
	if err != nil {
		return err
	}
	for _, op := range o.Ops {
		var fn func(c *imapClient) (int64, int64, int64, error)
		switch op {
		case OpFetchEnvelope:
			fn = func(c *imapClient) (int64, int64, int64, error) {
				return fetchAll(c, all(), &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true})
			}
		case OpFetchHeaders:
			fn = func(c *imapClient) (int64, int64, int64, error) {
				return fetchAll(c, all(), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}})
			}
		case OpFetchBodies:
			fn = func(c *imapClient) (int64, int64, int64, error) {
				set := all()
				if o.Bodies > 0 && uint32(o.Bodies) < c.exists {
					set = imap.SeqSetNum()
					set.AddRange(1, uint32(o.Bodies))
				}
				return fetchAll(c, set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
			}
		case OpSearch:
			for _, w := range o.Words {
				err := phase(ctx, clients, statsFor(stats, searchKey(w), measured), func(c *imapClient) (int64, int64, int64, error) {
					sd, err := c.c.UIDSearch(&imap.SearchCriteria{Text: []string{w}}, nil).Wait()
					if err != nil {
						return 0, 0, 0, fmt.Errorf("SEARCH TEXT %s: %w", w, err)
					}
					return int64(c.exists), 0, int64(len(sd.AllUIDs())), nil
				})
				if err != nil {
					return err
				}
			}
			continue
		case OpStore:
			fn = func(c *imapClient) (int64, int64, int64, error) {
				n := min(uint32(o.StoreRange), c.exists)
				first := uint32(c.idx*o.StoreRange)%c.exists + 1
				last := min(first+n-1, c.exists)
				set := imap.SeqSetNum()
				set.AddRange(first, last)
				for _, op := range []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel} {
					sf := &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}
					if err := c.c.Store(set, sf, nil).Close(); err != nil {
						return 0, 0, 0, fmt.Errorf("STORE: %w", err)
					}
				}
				return 2 * int64(last-first+1), 0, 0, nil
			}
		default:
			continue // login and select already ran
		}
		if err := phase(ctx, clients, statsFor(stats, op, measured), fn); err != nil {
			return err
		}
	}
	return nil
}

func all() imap.SeqSet {
	s := imap.SeqSet{}
	s.AddRange(1, 0) // 1:*
	return s
}

// fetchAll runs a FETCH and reads every response, discarding literals.
func fetchAll(c *imapClient, set imap.NumSet, opts *imap.FetchOptions) (int64, int64, int64, error) {
	cmd := c.c.Fetch(set, opts)
	var msgs, size int64
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		msgs++
		for {
			item := m.Next()
			if item == nil {
				break
			}
			if bs, ok := item.(imapclient.FetchItemDataBodySection); ok && bs.Literal != nil {
				n, err := io.Copy(io.Discard, bs.Literal)
				size += n
				if err != nil {
					cmd.Close()
					return msgs, size, 0, err
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return msgs, size, 0, fmt.Errorf("FETCH: %w", err)
	}
	if msgs == 0 {
		return 0, 0, 0, fmt.Errorf("FETCH: no messages")
	}
	return msgs, size, 0, nil
}

// phase runs fn for every client at once and records the latency of each
// and the wall-clock time of the whole phase.
func phase(ctx context.Context, clients []*imapClient, s *opStats, fn func(*imapClient) (msgs, bytes, hits int64, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			msgs, bytes, hits, err := fn(c)
			if err != nil {
				errs[i] = fmt.Errorf("client %d (%s): %w", i, c.user, err)
				return
			}
			s.lat.Add(time.Since(t0))
			s.add(msgs, bytes, hits)
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.wall += time.Since(start)
	s.mu.Unlock()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Package bench holds the workloads of `kantorpos bench`: load generators
// that speak SMTP, IMAP and POP3 to any server on loopback (kantorpos,
// Postfix, Dovecot...) and report throughput and latency percentiles.
//
// Every workload prints its results as lines of key=value pairs, so that
// runs can be grouped and their medians taken by a script (see
// bench/median.py). Latencies are in milliseconds.
//
// Targets must be loopback addresses: the tool is a load generator and
// refuses to point it at anyone else's machine.
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CheckLoopback returns an error unless addr ("host:port") names a
// loopback address. Host names are resolved and every address must be
// loopback.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("target %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s is not a loopback address: loopback only", addr)
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil {
		return fmt.Errorf("target %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return fmt.Errorf("target %s resolves to %s, not loopback: loopback only", addr, ip)
		}
	}
	if len(ips) == 0 {
		return fmt.Errorf("target %q does not resolve", addr)
	}
	return nil
}

// Result is one line of output: ordered key=value pairs.
type Result struct {
	keys []string
	vals map[string]string
}

// Set adds or replaces a field. Floats get up to 3 decimals.
func (r *Result) Set(key string, v any) *Result {
	if r.vals == nil {
		r.vals = map[string]string{}
	}
	if _, ok := r.vals[key]; !ok {
		r.keys = append(r.keys, key)
	}
	var s string
	switch x := v.(type) {
	case float64:
		s = strconv.FormatFloat(x, 'f', 3, 64)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		if s == "" || s == "-" {
			s = "0"
		}
	case time.Duration:
		s = strconv.FormatFloat(x.Seconds(), 'f', 3, 64)
	default:
		s = fmt.Sprint(x)
	}
	r.vals[key] = strings.ReplaceAll(s, " ", "_")
	return r
}

// Get returns a field ("" when absent).
func (r *Result) Get(key string) string { return r.vals[key] }

// Float returns a numeric field (0 when absent or not a number).
func (r *Result) Float(key string) float64 {
	f, _ := strconv.ParseFloat(r.vals[key], 64)
	return f
}

// String formats the line.
func (r *Result) String() string {
	var b strings.Builder
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(r.vals[k])
	}
	return b.String()
}

// Latencies collects durations from many goroutines.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one sample.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Len is the number of samples.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Percentile returns the p-th percentile (0 < p <= 100) by the
// nearest-rank method; 0 without samples.
func (l *Latencies) Percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	rank := int(float64(len(l.d))*p/100+0.999999) - 1
	rank = max(0, min(rank, len(l.d)-1))
	return l.d[rank]
}

// Report adds prefix_p50 and prefix_p99 (milliseconds) to r.
func (l *Latencies) Report(r *Result, prefix string) {
	r.Set(prefix+"_p50_ms", ms(l.Percentile(50)))
	r.Set(prefix+"_p99_ms", ms(l.Percentile(99)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rate is n per second over d.
func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// Print writes results, one line each.
func Print(w io.Writer, rs ...*Result) {
	for _, r := range rs {
		fmt.Fprintln(w, r.String())
	}
}

// dialer dials TCP from an optional local address.
type dialer struct {
	// sources are local addresses to dial from, used in turn ("" or nil:
	// the kernel chooses).
	sources []netip.Addr
	mu      sync.Mutex
	next    int
	timeout time.Duration
}

func (d *dialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	if nd.Timeout == 0 {
		nd.Timeout = 30 * time.Second
	}
	if len(d.sources) > 0 {
		d.mu.Lock()
		src := d.sources[d.next%len(d.sources)]
		d.next++
		d.mu.Unlock()
		nd.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return c, nil
}

// LoopbackSources returns 127.0.0.1 .. 127.0.0.n, to spread many
// connections over more local ports than one source address allows.
func LoopbackSources(n int) []netip.Addr {
	var out []netip.Addr
	for i := 1; i <= n && i < 255; i++ {
		out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	return out
}

// UserName formats the login or address of user i (1-based) with a
// format containing one %d, such as "bench%d@example.test".
func UserName(format string, i int) string { return fmt.Sprintf(format, i) }

// Package metrics holds the Prometheus metrics of one server: a Registry
// per server (never the global default), filled without threading counters
// through the protocol packages:
//
//   - a net.Listener wrapper counts accepted and open connections per listener;
//   - it is the events.Sink of the server: the mail events, auth failures,
//     POP3 commands and delivery latency are counted by internal/events
//     where they are logged;
//   - a collector asks the store for queue figures at scrape time;
//   - the store reports its write latency through a callback.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kantorpos/kantorpos/internal/clock"
)

// Events are the mail events counted (values of the `event` log attribute).
var Events = []string{"received", "queued", "delivered", "deferred", "bounced", "rejected", "dsn"}

// Metrics is the registry of one server and the instruments it holds.
type Metrics struct {
	Registry *prometheus.Registry

	conns        *prometheus.CounterVec
	active       *prometheus.GaugeVec
	commands     *prometheus.CounterVec
	events       *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	latency      prometheus.Histogram
	storeWrite   prometheus.Histogram

	clock clock.Clock
	mu    sync.Mutex
	day   string           // the day counted in today, "2006-01-02" in local time
	today map[string]int64 // events of that day
}

// New makes the registry with Go runtime and process collectors.
func New(clk clock.Clock) *Metrics {
	if clk == nil {
		clk = clock.Real{}
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kantorpos_connections_total", Help: "Connections accepted, per listener.",
		}, []string{"listener"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kantorpos_connections_active", Help: "Connections open now, per listener.",
		}, []string{"listener"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kantorpos_commands_total", Help: "Protocol commands received, per protocol (POP3 so far).",
		}, []string{"proto"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kantorpos_mail_events_total",
			Help: "Mail events: messages received, queue entries created, recipients delivered, deferred, bounced, messages or recipients rejected, DSNs sent.",
		}, []string{"event"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kantorpos_auth_failures_total", Help: "Failed or refused logins, per protocol.",
		}, []string{"proto"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kantorpos_delivery_latency_seconds",
			Help:    "Time from queueing to delivery of remote recipients.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 5 * 24 * 3600},
		}),
		storeWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kantorpos_store_write_duration_seconds",
			Help:    "Store write transactions, from request to durable commit.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
		clock: clk,
		today: map[string]int64{},
	}
	m.Registry.MustRegister(m.conns, m.active, m.commands, m.events, m.authFailures, m.latency, m.storeWrite,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, e := range Events {
		m.events.WithLabelValues(e)
	}
	for _, p := range []string{"smtp", "imap", "pop3", "http"} {
		m.authFailures.WithLabelValues(p)
	}
	m.commands.WithLabelValues("pop3")
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveStoreWrite records one store write (sqlstore.Options.ObserveWrite).
func (m *Metrics) ObserveStoreWrite(d time.Duration) { m.storeWrite.Observe(d.Seconds()) }

// AuthFailure counts a failed or refused login over proto (events.Sink).
func (m *Metrics) AuthFailure(proto string) { m.authFailures.WithLabelValues(proto).Inc() }

// Command counts one command over proto (events.Sink).
func (m *Metrics) Command(proto string) { m.commands.WithLabelValues(proto).Inc() }

// DeliveryLatency records one delivery, d after queueing (events.Sink).
func (m *Metrics) DeliveryLatency(d time.Duration) { m.latency.Observe(d.Seconds()) }

// MailEvent counts one mail event, in the totals and in today's counts
// (events.Sink).
func (m *Metrics) MailEvent(kind string) {
	m.events.WithLabelValues(kind).Inc()
	day := m.clock.Now().Format(time.DateOnly)
	m.mu.Lock()
	if day != m.day {
		m.day, m.today = day, map[string]int64{}
	}
	m.today[kind]++
	m.mu.Unlock()
}

// EventsToday returns the mail events counted by this process today (local
// time), by kind.
func (m *Metrics) EventsToday() map[string]int64 {
	day := m.clock.Now().Format(time.DateOnly)
	out := map[string]int64{}
	m.mu.Lock()
	defer m.mu.Unlock()
	if day == m.day {
		for k, v := range m.today {
			out[k] = v
		}
	}
	return out
}

// QueueFigures is what the queue collector asks for at scrape time.
type QueueFigures func(ctx context.Context) (entries, deferred int, oldest time.Time, err error)

// RegisterQueue adds the queue gauges, read from f once per scrape.
func (m *Metrics) RegisterQueue(f QueueFigures) {
	m.Registry.MustRegister(&queueCollector{f: f, clock: m.clock})
}

var (
	queueEntriesDesc  = prometheus.NewDesc("kantorpos_queue_entries", "Messages in the outbound queue (one per destination domain).", nil, nil)
	queueDeferredDesc = prometheus.NewDesc("kantorpos_queue_deferred_entries", "Queue entries that failed at least one attempt.", nil, nil)
	queueAgeDesc      = prometheus.NewDesc("kantorpos_queue_oldest_age_seconds", "Age of the oldest queue entry (0 when empty).", nil, nil)
)

// queueCollector asks the store once per scrape, with a short deadline.
type queueCollector struct {
	f     QueueFigures
	clock clock.Clock
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueEntriesDesc
	ch <- queueDeferredDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, deferred, oldest, err := c.f(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueEntriesDesc, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(c.clock.Now().Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueEntriesDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(queueDeferredDesc, prometheus.GaugeValue, float64(deferred))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}

package admin

import (
	"context"
	"crypto/x509"
	"time"
)

// Runtime is what only a running server knows; the server sets Ops.Runtime
// (the command line has none).
type Runtime interface {
	// Listeners lists the listeners that accept connections now.
	Listeners() []Listener
	// EventsToday counts today's mail events by kind (received, delivered...).
	EventsToday() map[string]int64
	// Certificate is the certificate the server presents (nil: none).
	Certificate() *x509.Certificate
	// Disk tells how much the data directory uses and how much is free.
	Disk() (Disk, error)
	// Started is when the server started.
	Started() time.Time
}

// Listener is one bound listener.
type Listener struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// Disk is the use of the data directory's file system.
type Disk struct {
	Path      string `json:"path"`
	UsedBytes int64  `json:"used_bytes"` // by the data directory
	FreeBytes int64  `json:"free_bytes"` // on its file system, for us
	SizeBytes int64  `json:"size_bytes"` // of its file system
}

// Status is the state of the server, for the dashboard and monitoring.
type Status struct {
	Hostname  string           `json:"hostname"`
	Time      time.Time        `json:"time"`
	Started   time.Time        `json:"started,omitzero"`
	Listeners []Listener       `json:"listeners"`
	Today     map[string]int64 `json:"today"` // mail events of this process today
	Queue     QueueStatus      `json:"queue"`
	Domains   int              `json:"domains"`
	Accounts  int              `json:"accounts"`
	Disk      *Disk            `json:"disk,omitempty"`
	DiskError string           `json:"disk_error,omitempty"`
	Cert      *CertStatus      `json:"certificate,omitempty"`
}

// QueueStatus are the queue figures.
type QueueStatus struct {
	Entries    int       `json:"entries"`
	Deferred   int       `json:"deferred"`
	Oldest     time.Time `json:"oldest,omitzero"`
	OldestSecs float64   `json:"oldest_age_seconds"`
}

// CertStatus describes the server's certificate.
type CertStatus struct {
	Subject    string    `json:"subject"`
	Names      []string  `json:"names"`
	Issuer     string    `json:"issuer"`
	NotAfter   time.Time `json:"not_after"`
	DaysLeft   int       `json:"days_left"`
	SelfSigned bool      `json:"self_signed"`
}

// Status gathers the server's state: the store's figures, and with a
// Runtime the listeners, today's counters, disk use and the certificate.
func (o *Ops) Status(ctx context.Context) (Status, error) {
	now := o.now()
	st := Status{Hostname: o.Published.Hostname, Time: now, Today: map[string]int64{}, Listeners: []Listener{}}
	qs, err := o.Store.QueueStats(ctx)
	if err != nil {
		return st, err
	}
	st.Queue = QueueStatus{Entries: qs.Entries, Deferred: qs.Deferred, Oldest: qs.Oldest}
	if !qs.Oldest.IsZero() {
		st.Queue.OldestSecs = max(now.Sub(qs.Oldest).Seconds(), 0)
	}
	ds, err := o.Store.Domains(ctx)
	if err != nil {
		return st, err
	}
	as, err := o.Store.Accounts(ctx, "")
	if err != nil {
		return st, err
	}
	st.Domains, st.Accounts = len(ds), len(as)
	rt := o.Runtime
	if rt == nil {
		return st, nil
	}
	st.Started = rt.Started()
	st.Listeners = rt.Listeners()
	for k, v := range rt.EventsToday() {
		st.Today[k] = v
	}
	if d, err := rt.Disk(); err != nil {
		st.DiskError = err.Error()
	} else {
		st.Disk = &d
	}
	if c := rt.Certificate(); c != nil {
		st.Cert = &CertStatus{Subject: c.Subject.String(), Names: c.DNSNames, Issuer: c.Issuer.String(), NotAfter: c.NotAfter,
			DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24), SelfSigned: c.Subject.String() == c.Issuer.String()}
	}
	return st, nil
}

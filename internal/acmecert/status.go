package acmecert

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Status is the state of the certificates, for the admin web, /metrics
// and `kantorpos status`.
type Status struct {
	Directory string       `json:"directory"`
	Updated   time.Time    `json:"updated"`
	Names     []NameStatus `json:"names"`
}

// NameStatus is the state of one name. Zero times are unknown or none.
type NameStatus struct {
	Name string `json:"name"`
	// The certificate served (none yet: zero times, no issuer).
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Issuer    string    `json:"issuer,omitempty"`
	Serial    string    `json:"serial,omitempty"` // hex
	RenewAt   time.Time `json:"renew_at,omitzero"`
	// Issued is the last successful request of this run.
	Issued time.Time `json:"issued,omitzero"`
	// LastError is the error of the last request, cleared by a success.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// StatusFile is the name of the status file in Options.Dir.
const StatusFile = "status.json"

// Status reports every name, host name first, the others sorted.
func (m *Manager) Status() Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := Status{Directory: m.o.DirectoryURL, Updated: m.o.Clock.Now()}
	for name, st := range m.names {
		n := NameStatus{Name: name, Issued: st.issued, LastError: st.lastErr, LastErrorAt: st.lastErrAt,
			Failures: st.failures, NextAttempt: st.next}
		if st.leaf != nil {
			n.NotBefore, n.NotAfter, n.RenewAt = st.leaf.NotBefore, st.leaf.NotAfter, renewAt(st.leaf)
			n.Issuer, n.Serial = st.leaf.Issuer.CommonName, st.leaf.SerialNumber.Text(16)
		}
		s.Names = append(s.Names, n)
	}
	sort.Slice(s.Names, func(i, j int) bool {
		a, b := s.Names[i].Name, s.Names[j].Name
		if (a == m.o.Hostname) != (b == m.o.Hostname) {
			return a == m.o.Hostname
		}
		return a < b
	})
	return s
}

func (m *Manager) writeStatus() {
	data, err := json.MarshalIndent(m.Status(), "", "  ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(m.o.Dir, StatusFile), append(data, '\n'))
	}
	if err != nil {
		m.o.Log.Warn("acme: write status", "err", err)
	}
}

// ReadStatus reads the status file a running server wrote in dir.
func ReadStatus(dir string) (Status, error) {
	var s Status
	data, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", StatusFile, err)
	}
	return s, nil
}

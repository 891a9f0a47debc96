package tlsconf

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// readPair reads a certificate and key file and digests both.
func readPair(certFile, keyFile string) (certPEM, keyPEM []byte, digest [sha256.Size]byte, err error) {
	if certPEM, err = os.ReadFile(certFile); err != nil {
		return nil, nil, digest, fmt.Errorf("tlsconf: %w", err)
	}
	if keyPEM, err = os.ReadFile(keyFile); err != nil {
		return nil, nil, digest, fmt.Errorf("tlsconf: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	copy(digest[:], h.Sum(nil))
	return certPEM, keyPEM, digest, nil
}

// Watch checks the certificate every interval until ctx ends: files that
// changed are loaded (a pair caught half-written is retried at the next
// check, the old certificate serving meanwhile), and a self-signed
// certificate is remade before it expires. The files are compared by
// content, not modification time, so a quick replacement is not missed.
func (m *Manager) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failed [sha256.Size]byte // the content that last failed to load
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if m.o.CertFile == "" {
			if leaf := m.Leaf(); leaf != nil && time.Until(leaf.NotAfter) < 30*24*time.Hour {
				if err := m.Reload(); err != nil {
					m.o.Log.Error("renew self-signed certificate", "dir", m.o.SelfSignedDir, "err", err)
				}
			}
			continue
		}
		_, _, digest, err := readPair(m.o.CertFile, m.o.KeyFile)
		if err != nil {
			if err.Error() != lastErr {
				m.o.Log.Warn("certificate files unreadable; keeping the loaded certificate", "err", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		m.mu.RLock()
		same := digest == m.digest
		m.mu.RUnlock()
		if same || digest == failed {
			continue
		}
		if err := m.Reload(); err != nil {
			m.o.Log.Warn("certificate files changed but do not load; keeping the loaded certificate",
				"file", filepath.Base(m.o.CertFile), "err", err)
			failed = digest
		}
	}
}

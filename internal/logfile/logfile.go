// Package logfile is the server's log file ([log] file): appended to,
// created 0600, and reopened on request (SIGUSR1) so that logrotate can
// move it away and the server goes on in a new file at the same path.
package logfile

import (
	"fmt"
	"os"
	"sync"
)

// File is an io.Writer to the log file at a path; safe for concurrent use.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Open opens (creating it 0600) the file at path for appending.
func Open(path string) (*File, error) {
	l := &File{path: path}
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// Write appends p (one log record) to the current file.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again (a new file if it was moved away) and
// closes the previous one. On an error the previous file stays in use.
func (l *File) Reopen() error {
	f, err := open(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

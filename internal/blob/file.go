package blob

import (
	"io"
	"os"
	"syscall"
)

// fdReader reads a blob file through its descriptor with pread: a blob is
// opened for every message an IMAP FETCH or a POP3 RETR sends, and
// *os.File's open (poller registration attempt, non-blocking mode) and
// close cost several more system calls than a regular file needs.
//
// Like the *os.File it replaces for this, it has one owner: Close must not
// race with reads.
type fdReader struct {
	fd   int // -1 once closed
	size int64
	off  int64
}

func openFile(path string) (Reader, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return &fdReader{fd: fd, size: st.Size}, nil
}

func (r *fdReader) Size() int64 { return r.size }

func (r *fdReader) ReadAt(p []byte, off int64) (int, error) {
	fd := r.fd
	if fd < 0 {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, os.ErrInvalid
	}
	n := 0
	for n < len(p) {
		if off >= r.size {
			return n, io.EOF
		}
		m, err := syscall.Pread(fd, p[n:], off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "pread", Path: "blob", Err: err}
		}
		if m == 0 {
			return n, io.EOF // the file is shorter than it was at open
		}
		n += m
		off += int64(m)
	}
	return n, nil
}

func (r *fdReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *fdReader) Close() error {
	fd := r.fd
	if fd < 0 {
		return os.ErrClosed
	}
	r.fd = -1
	return syscall.Close(fd)
}

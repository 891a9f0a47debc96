package blob

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// errNoTmpfile: this filesystem (or a missing /proc) cannot give an
// O_TMPFILE file a name; use named temporary files.
var errNoTmpfile = errors.New("blob: no O_TMPFILE")

// tmpfileUsable reports whether unnamed files can be linked here: that
// goes through /proc/self/fd.
func tmpfileUsable() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

// openTmpfile opens an unnamed file on dir's filesystem.
func openTmpfile(dir string) (*os.File, error) {
	for {
		fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EOPNOTSUPP || err == unix.EISDIR || err == unix.EINVAL:
			return nil, errNoTmpfile
		case err != nil:
			return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)")), nil
	}
}

// linkTmpfile gives f, from openTmpfile, the name path. It fails with an
// error matching fs.ErrExist when path exists.
func linkTmpfile(f *os.File, path string) error {
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	for {
		err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "link", Old: src, New: path, Err: err}
		}
		return nil
	}
}

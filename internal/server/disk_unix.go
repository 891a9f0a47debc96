//go:build unix

package server

import "golang.org/x/sys/unix"

// fsSpace returns the bytes free (for unprivileged use) and the size of the
// file system holding dir.
func fsSpace(dir string) (free, size int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

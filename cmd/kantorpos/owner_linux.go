package main

import (
	"fmt"
	"os"
	"syscall"
)

// becomeDataOwner makes an admin command run as root act as the owner of
// the data directory (the service user), so that every file it creates
// there (blobs, the database's journal) is one the server can read. It
// switches the whole process (all threads: Go's syscall.Setuid does so on
// Linux) before anything in the directory is opened. A data directory
// owned by root, or a command run as another user, changes nothing.
func becomeDataOwner(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("act as the data directory's owner: setgroups: %w", err)
	}
	if err := syscall.Setgid(int(st.Gid)); err != nil {
		return fmt.Errorf("act as the data directory's owner: setgid %d: %w", st.Gid, err)
	}
	if err := syscall.Setuid(int(st.Uid)); err != nil {
		return fmt.Errorf("act as the data directory's owner: setuid %d: %w", st.Uid, err)
	}
	return nil
}

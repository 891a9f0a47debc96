package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/kantorpos/kantorpos/internal/config"
)

// becomeServiceUser is what `serve` started as root does after binding its
// listeners: make sure the data directory is the service user's (creating
// it, 0700, if it does not exist yet), then drop every privilege for good
// (supplementary groups, group, user: on Linux Go applies them to every
// thread). Nothing of the data has been opened yet, and no client byte
// read. It returns the user it became.
func becomeServiceUser(c config.Config) (string, error) {
	name := c.User
	if name == "" {
		name = config.DefaultUser
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", fmt.Errorf("serve runs as root and becomes the user %q after binding its ports, but: %w (create it, e.g. adduser --system --group %s, or name another with user = in the configuration)", name, err, name)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	if uid == 0 {
		return "", fmt.Errorf("user %q is root: name an unprivileged user", name)
	}
	fi, err := os.Stat(c.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return "", fmt.Errorf("data directory: %w", err)
		}
		if err := os.Chown(c.DataDir, uid, gid); err != nil {
			return "", fmt.Errorf("data directory: %w", err)
		}
	case err != nil:
		return "", fmt.Errorf("data directory: %w", err)
	default:
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
			return "", fmt.Errorf("data directory %s belongs to uid %d, not to %s (uid %d), the user serve runs as: chown -R %s: %s",
				c.DataDir, st.Uid, name, uid, name, c.DataDir)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return "", fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return "", fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return "", fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	if os.Geteuid() == 0 || os.Getegid() == 0 {
		return "", errors.New("drop privileges: still root")
	}
	return name, nil
}

package sqlstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// createPrivate makes sure the SQLite database file at path exists and is
// readable by its owner only (0600), whatever the umask: it holds password
// hashes, DKIM private keys and token hashes. SQLite creates the -wal,
// -shm and -journal files beside it with the database file's mode
// (os_unix.c, findCreateFileMode), so they are 0600 too; files an older
// version left open to others are narrowed.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlstore: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, info.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("sqlstore: %w", err)
			}
		}
	}
	return nil
}

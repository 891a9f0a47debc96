package hostile

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/kantorpos/kantorpos/internal/backup"
)

// Issue 19 item 6: the database (password hashes, DKIM private keys, token
// hashes), its -wal and -shm files and the backup's copy were created 0644.
// Under the common umask 022, every file the server and a backup create is
// 0600 and every directory 0700: nothing for group or others.
//
// Not parallel: the umask belongs to the whole process (parallel tests
// wait until this one is done).
func TestDataFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	e := newEnv(t, nil) // a domain (with DKIM keys) and a user
	// A message: blobs, queue and message rows.
	c := dial(t, e, "smtp", "")
	c.greet()
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<a@ext.test>", "250")
	c.cmd("RCPT TO:<"+user+">", "250")
	c.cmd("DATA", "354")
	c.cmd("Subject: private\r\n\r\nhello\r\n.", "250")
	c.cmd("QUIT", "221")
	bdir := filepath.Join(t.TempDir(), "backup")
	if _, err := backup.Run(context.Background(), backup.Options{DataDir: e.DataDir, Dir: bdir, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{e.DataDir, bdir} {
		seen := map[string]bool{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			seen[filepath.Base(p)] = true
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %v (group or others have access)", filepath.Join(filepath.Base(root), rel), info.Mode().Perm())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The walk saw what matters (the server is running: WAL mode).
		want := []string{"kantorpos.db"}
		if root == e.DataDir {
			want = append(want, "kantorpos.db-wal", "kantorpos.db-shm", "blobs", "selfsigned.key", "selfsigned.crt")
		}
		for _, w := range want {
			if !seen[w] {
				t.Errorf("%s: no %s", root, w)
			}
		}
	}
}

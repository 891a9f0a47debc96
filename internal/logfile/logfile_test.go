package logfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReopenAfterRotation does what logrotate does: move the file away,
// then ask for a reopen; later lines go to a new file at the path.
func TestReopenAfterRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "kantorpos.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("two\n")); err != nil { // still the moved file
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("three\n")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{{rotated, "one\ntwo\n"}, {path, "three\n"}} {
		b, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%s = %q, want %q", c.path, b, c.want)
		}
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", c.path, fi.Mode().Perm())
		}
	}
	// A reopen that fails keeps the file in use.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() != 0 { // root creates files anyway
		if err := l.Reopen(); err == nil {
			t.Error("reopen in a read-only directory worked")
		}
		if _, err := l.Write([]byte("four\n")); err != nil {
			t.Errorf("write after a failed reopen: %v", err)
		}
	}
}

package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// TestFS runs with unnamed (O_TMPFILE) files linked into place, where the
// system has them, and with named temporary files renamed into place.
func TestFS(t *testing.T) {
	t.Parallel()
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "tmpfile", true: "named"}[named], func(t *testing.T) {
			t.Parallel()
			s, err := NewFS(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if named {
				s.NoTmpfile.Store(true)
			} else if s.NoTmpfile.Load() {
				t.Skip("no O_TMPFILE and /proc here")
			}
			testFS(t, s)
		})
	}
}

func testFS(t *testing.T, s *FS) {
	ctx := context.Background()
	put := func(content string) store.BlobRef {
		w, err := s.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
		ref, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	ref := put("hello world\r\n")
	if ref.Size != 13 || ref.Hash != "572a95fee9c0f320030789e4883707affe12482fbb1ea04b3ea8267c87a890fb" {
		t.Fatalf("ref = %+v", ref)
	}
	// The same content again: same blob, its mtime refreshed (RemoveStale
	// must not take it while the new reference is being recorded).
	p, _ := s.path(ref.Hash)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if again := put("hello world\r\n"); again != ref {
		t.Fatalf("same content, different ref: %v %v", again, ref)
	}
	if fi, err := os.Stat(p); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Fatalf("mtime not refreshed: %v, %v", fi.ModTime(), err)
	}
	r, err := s.Open(ctx, ref.Hash)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := r.ReadAt(buf, 6); err != nil || string(buf) != "world" || r.Size() != 13 {
		t.Fatalf("ReadAt = %q, %v, size %d", buf, err, r.Size())
	}
	r.Close()

	// Aborted blobs leave nothing behind.
	w, _ := s.Create(ctx)
	io.WriteString(w, "discard me")
	w.Abort()
	w.Abort()
	tmp, _ := os.ReadDir(filepath.Join(s.Dir, "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	var seen []string
	s.Walk(ctx, func(h string, size int64, _ time.Time) error { seen = append(seen, h); return nil })
	if len(seen) != 1 || seen[0] != ref.Hash {
		t.Fatalf("Walk = %v", seen)
	}
	if err := s.Remove(ctx, ref.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, ref.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open removed = %v", err)
	}
	for _, bad := range []string{"../../etc/passwd", strings.Repeat("g", 64), ""} {
		if _, err := s.Open(ctx, bad); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Open(%q) = %v, want invalid hash", bad, err)
		}
	}
	if err := s.CheckSpace(0); err != nil {
		t.Errorf("CheckSpace: %v", err)
	}
	s.Reserve = 1 << 62
	if err := s.CheckSpace(0); !IsNoSpace(err) {
		t.Errorf("CheckSpace with huge reserve = %v", err)
	}
}

func TestRemoveStale(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := NewFS(t.TempDir(), 0)
	w, _ := s.Create(ctx)
	io.WriteString(w, "young")
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := s.RemoveStale(ctx, ref.Hash); err != nil || removed {
		t.Fatalf("RemoveStale of a fresh blob = %v, %v", removed, err)
	}
	old := time.Now().Add(-time.Hour)
	p, _ := s.path(ref.Hash)
	os.Chtimes(p, old, old)
	if removed, err := s.RemoveStale(ctx, ref.Hash); err != nil || !removed {
		t.Fatalf("RemoveStale of an old blob = %v, %v", removed, err)
	}
	// Writing the same content again refreshes the file.
	w, _ = s.Create(ctx)
	io.WriteString(w, "young")
	w.Commit(ctx)
	if fi, err := os.Stat(p); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Fatalf("rewritten blob: %v %v", fi, err)
	}
}

// TestReader: ReadAt at and past the end, Read to EOF, Close twice.
func TestReader(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := openFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != 10 {
		t.Fatalf("size %d", r.Size())
	}
	for _, tc := range []struct {
		off  int64
		n    int
		want string
		eof  bool
	}{
		{0, 4, "0123", false}, {6, 4, "6789", false}, {8, 4, "89", true}, {10, 1, "", true}, {20, 1, "", true},
	} {
		b := make([]byte, tc.n)
		n, err := r.ReadAt(b, tc.off)
		if string(b[:n]) != tc.want || (err == io.EOF) != tc.eof || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(%d, %d) = %q, %v", tc.n, tc.off, b[:n], err)
		}
	}
	all, err := io.ReadAll(r)
	if err != nil || string(all) != "0123456789" {
		t.Errorf("ReadAll = %q, %v", all, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if _, err := r.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
	if _, err := openFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

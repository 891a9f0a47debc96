package blob

import (
	"context"
	"crypto/rand"
	"testing"
)

// BenchmarkCommit: 5 KiB blobs written, fsynced and put into place by 5
// writers at once per CPU, as concurrent SMTP sessions do: unnamed
// (O_TMPFILE) files linked into place, and named temporary files renamed.
func BenchmarkCommit(b *testing.B) {
	for _, named := range []bool{false, true} {
		name := "tmpfile"
		if named {
			name = "named"
		}
		b.Run(name, func(b *testing.B) { benchCommit(b, named) })
	}
}

func benchCommit(b *testing.B, named bool) {
	s, err := NewFS(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	if named {
		s.NoTmpfile.Store(true)
	} else if s.NoTmpfile.Load() {
		b.Skip("no O_TMPFILE here")
	}
	ctx := context.Background()
	b.SetParallelism(5)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 5<<10)
		for pb.Next() {
			rand.Read(buf)
			w, err := s.Create(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := w.Write(buf); err != nil {
				b.Error(err)
				return
			}
			if _, err := w.Commit(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

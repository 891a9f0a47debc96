package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Generation to check ("" = the latest); All checks every generation.
	Generation string
	All        bool
	// Quick checks blob sizes only, not their SHA-256.
	Quick    bool
	Workers  int
	Progress progress.Reporter
}

// VerifyResult is what Verify checked and found.
type VerifyResult struct {
	Generations []string
	Blobs       int // distinct blobs checked
	Bytes       int64
	// Problems are human-readable findings; empty means the backup is good.
	Problems []string
}

// Verify re-checks a backup: the manifest and the database checksum, the
// database's own integrity, that every blob the database refers to is in
// the manifest and present, and the SHA-256 and size of every blob and
// file.
func Verify(ctx context.Context, dir string, o VerifyOptions) (*VerifyResult, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	pr := progress.Or(o.Progress)
	res := &VerifyResult{}
	switch {
	case o.All:
		gens, err := Generations(dir)
		if err != nil {
			return nil, err
		}
		if len(gens) == 0 {
			return nil, fmt.Errorf("backup: %s holds no complete backup", dir)
		}
		res.Generations = gens
	case o.Generation != "":
		res.Generations = []string{o.Generation}
	default:
		g, err := Latest(dir)
		if err != nil {
			return nil, err
		}
		res.Generations = []string{g}
	}
	blobs := map[string]int64{}
	for _, g := range res.Generations {
		m, err := ReadManifest(dir, g)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
			continue
		}
		res.Problems = append(res.Problems, verifyGeneration(ctx, dir, g, m)...)
		for _, b := range m.Blobs {
			blobs[b.SHA256] = b.Size
		}
	}
	var hashes []string
	var total int64
	for h, size := range blobs {
		hashes = append(hashes, h)
		total += size
	}
	sort.Strings(hashes)
	res.Blobs, res.Bytes = len(hashes), total
	pr.Start(fmt.Sprintf("checking %d blobs", len(hashes)), total, true)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				if p := checkBlobFile(blobPath(dir, h), h, blobs[h], o.Quick); p != "" {
					mu.Lock()
					res.Problems = append(res.Problems, p)
					mu.Unlock()
				}
				pr.Add(blobs[h])
			}
		}()
	}
feed:
	for _, h := range hashes {
		select {
		case work <- h:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	pr.Done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.Strings(res.Problems)
	return res, nil
}

// verifyGeneration checks one generation's database and files.
func verifyGeneration(ctx context.Context, dir, gen string, m *Manifest) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("generation %s: ", gen)+fmt.Sprintf(format, args...))
	}
	gdir := genPath(dir, gen)
	for _, f := range append([]FileSum{m.Database}, m.Files...) {
		size, sum, err := hashFile(filepath.Join(gdir, filepath.FromSlash(f.Path)))
		switch {
		case err != nil:
			add("%s: %v", f.Path, err)
		case size != f.Size || sum != f.SHA256:
			add("%s: checksum mismatch: %d bytes, SHA-256 %s; manifest says %d bytes, %s", f.Path, size, sum, f.Size, f.SHA256)
		}
	}
	info, err := sqlstore.ReadSnapshot(ctx, filepath.Join(gdir, m.Database.Path), true)
	if err != nil {
		add("database: %v", err)
		return problems
	}
	if info.Dangling > 0 {
		add("database: %d message or queue row(s) refer to a missing blob row", info.Dangling)
	}
	listed := map[string]int64{}
	for _, b := range m.Blobs {
		listed[b.SHA256] = b.Size
	}
	for _, mb := range m.Missing {
		add("blob %s was not backed up: %s", mb.SHA256, mb.Reason)
	}
	missingOK := map[string]bool{}
	for _, mb := range m.Missing {
		missingOK[mb.SHA256] = true
	}
	for _, b := range info.Blobs {
		size, ok := listed[b.Hash]
		switch {
		case missingOK[b.Hash]:
		case !ok:
			add("blob %s: the database refers to it but the manifest does not list it", b.Hash)
		case size != b.Size:
			add("blob %s: the manifest says %d bytes, the database %d", b.Hash, size, b.Size)
		}
	}
	if info.Counts != m.Counts {
		add("database counts %+v differ from the manifest's %+v", info.Counts, m.Counts)
	}
	return problems
}

// checkBlobFile returns a problem with one blob file, or "".
func checkBlobFile(path, hash string, size int64, quick bool) string {
	if quick {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Sprintf("blob %s: %v", hash, err)
		}
		if fi.Size() != size {
			return fmt.Sprintf("blob %s: %d bytes, manifest says %d", hash, fi.Size(), size)
		}
		return ""
	}
	n, sum, err := hashFile(path)
	switch {
	case err != nil:
		return fmt.Sprintf("blob %s: %v", hash, err)
	case n != size || sum != hash:
		return fmt.Sprintf("blob %s: damaged: %d bytes with SHA-256 %s (want %d bytes)", hash, n, sum, size)
	}
	return ""
}

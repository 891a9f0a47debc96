package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Dir is the backup directory, Generation the one to restore ("" = latest).
	Dir        string
	Generation string
	// DataDir is the data directory to rebuild.
	DataDir string
	// Force allows restoring into a non-empty data directory: its database
	// files are renamed aside (kantorpos.db.before-restore-TIME), its other
	// files are kept (blob files the restored database does not use are
	// swept as orphans later).
	Force    bool
	Workers  int
	Progress progress.Reporter
}

// RestoreResult is what Restore did.
type RestoreResult struct {
	Manifest   *Manifest
	Blobs      int
	Bytes      int64
	Files      []string // other files put back (relative to the data directory)
	Config     string   // path of the backed-up configuration file, if any
	MovedAside []string
	Duration   time.Duration
}

// Restore rebuilds a data directory from a backup generation. Every file is
// checked against the manifest while it is copied, and fsynced; the
// database is put in place last, so a restore that fails leaves no
// database referring to missing blobs. Stop any server using the data
// directory first.
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	if o.Workers <= 0 {
		o.Workers = 4
	}
	pr := progress.Or(o.Progress)
	m, err := ReadManifest(o.Dir, o.Generation)
	if err != nil {
		return nil, err
	}
	if m.Dialect != "sqlite" {
		return nil, fmt.Errorf("backup: generation %s is a %s backup; restore handles SQLite", m.Generation, m.Dialect)
	}
	unlock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &RestoreResult{Manifest: m}
	if entries, err := os.ReadDir(o.DataDir); err == nil && len(entries) > 0 {
		if !o.Force {
			return nil, fmt.Errorf("backup: data directory %s is not empty (stop its server and use -force to restore over it)", o.DataDir)
		}
		stamp := time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			p := filepath.Join(o.DataDir, dbFile+suffix)
			if _, err := os.Stat(p); err == nil {
				aside := p + ".before-restore-" + stamp
				if err := os.Rename(p, aside); err != nil {
					return nil, fmt.Errorf("backup: %w", err)
				}
				res.MovedAside = append(res.MovedAside, aside)
			}
		}
	}
	if err := mkdirSync(filepath.Join(o.DataDir, blobsDir)); err != nil {
		return nil, err
	}
	gdir := genPath(o.Dir, m.Generation)

	// Blobs first.
	pr.Start(fmt.Sprintf("restoring %d blobs", len(m.Blobs)), m.BlobBytes, true)
	var (
		mu       sync.Mutex
		problems []string
		dirs     = map[string]bool{}
		wg       sync.WaitGroup
	)
	work := make(chan BlobSum)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				dst := blobPath(o.DataDir, b.SHA256)
				err := os.MkdirAll(filepath.Dir(dst), 0o700)
				var n int64
				var sum string
				if err == nil {
					n, sum, err = copyFile(blobPath(o.Dir, b.SHA256), dst+".part")
				}
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("blob %s: %v", b.SHA256, err))
				case n != b.Size || sum != b.SHA256:
					os.Remove(dst + ".part")
					problems = append(problems, fmt.Sprintf("blob %s: damaged in the backup (%d bytes, SHA-256 %s)", b.SHA256, n, sum))
				default:
					if rerr := os.Rename(dst+".part", dst); rerr != nil {
						problems = append(problems, rerr.Error())
					}
					dirs[filepath.Dir(dst)] = true
					res.Blobs++
					res.Bytes += n
				}
				mu.Unlock()
				pr.Add(b.Size)
			}
		}()
	}
feed:
	for _, b := range m.Blobs {
		select {
		case work <- b:
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
	if len(problems) > 0 {
		return res, fmt.Errorf("backup: restore stopped before the database: %d blob(s) could not be restored; first: %s", len(problems), problems[0])
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return nil, err
		}
	}
	if err := syncDir(filepath.Join(o.DataDir, blobsDir)); err != nil {
		return nil, err
	}

	// Other files of the data directory.
	for _, f := range m.Files {
		src := filepath.Join(gdir, filepath.FromSlash(f.Path))
		if f.RestoreTo == "" {
			res.Config = src
			continue
		}
		dst := filepath.Join(o.DataDir, filepath.FromSlash(f.RestoreTo))
		if err := mkdirSync(filepath.Dir(dst)); err != nil {
			return nil, err
		}
		n, sum, err := copyFile(src, dst)
		if err != nil {
			return nil, err
		}
		if n != f.Size || sum != f.SHA256 {
			os.Remove(dst)
			return nil, fmt.Errorf("backup: %s is damaged in the backup", f.Path)
		}
		if err := syncDir(filepath.Dir(dst)); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, f.RestoreTo)
	}

	// The database last.
	dst := filepath.Join(o.DataDir, dbFile)
	n, sum, err := copyFile(filepath.Join(gdir, m.Database.Path), dst+".restoring")
	if err != nil {
		return nil, err
	}
	if n != m.Database.Size || sum != m.Database.SHA256 {
		os.Remove(dst + ".restoring")
		return nil, fmt.Errorf("backup: the database of generation %s is damaged (checksum mismatch)", m.Generation)
	}
	if _, err := sqlstore.ReadSnapshot(ctx, dst+".restoring", true); err != nil {
		os.Remove(dst + ".restoring")
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(dst+".restoring", dst); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(o.DataDir); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

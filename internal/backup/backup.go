package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// Options configure Run.
type Options struct {
	// DataDir is the live data directory (kantorpos.db and blobs/).
	DataDir string
	// Dir is the backup directory; it is created when missing.
	Dir string
	// ConfigFile, when set, is copied into the generation.
	ConfigFile string
	// Keep is how many generations to keep (0 = all). Older ones are
	// removed, with the blobs no kept generation refers to.
	Keep int
	// Version is the kantorpos version recorded in the manifest.
	Version string
	// Workers copy blobs in parallel (default 4).
	Workers  int
	Progress progress.Reporter
	// Now defaults to time.Now.
	Now func() time.Time

	// afterSnapshot, for tests, runs after each snapshot is taken.
	afterSnapshot func(round int)
}

// Result is what Run did.
type Result struct {
	Manifest *Manifest
	// Copied and CopiedBytes count the blobs this run copied; Present
	// counts those already in the backup directory.
	Copied      int
	CopiedBytes int64
	Present     int
	Duration    time.Duration
	Pruned      []string // generations removed (Keep)
	PrunedBlobs int
}

// maxRounds bounds how often Run takes a new snapshot because garbage
// collection removed a blob between the snapshot and its copy.
const maxRounds = 3

// Run backs up the data directory into a new generation of o.Dir. The
// server may be running: the database is copied with SQLite's online
// backup API (a consistent snapshot), then every blob the snapshot refers
// to that the backup directory does not hold yet is copied (blobs are
// immutable and named by their SHA-256, so a blob with the same name is
// the same content).
//
// A blob can vanish between the snapshot and its copy only if its last
// message was removed after the snapshot and garbage collection ran (10
// minutes later at the earliest). Run then takes a new snapshot, which no
// longer refers to it, at most maxRounds times. A blob missing while the
// live database still has its row is lost in the live data; it is
// recorded in the manifest and Run returns an error after finishing the
// generation (run `kantorpos verify`).
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	pr := progress.Or(o.Progress)
	dbPath := filepath.Join(o.DataDir, dbFile)
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("backup: no database in %s: %w", o.DataDir, err)
	}
	if err := initDir(o.Dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeIncomplete(o.Dir)
	previous, _ := Latest(o.Dir)

	now := o.Now().UTC()
	gen := now.Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Stat(genPath(o.Dir, gen)); os.IsNotExist(err) {
			break
		}
		gen = fmt.Sprintf("%s-%d", now.Format("20060102T150405Z"), i)
	}
	gdir := genPath(o.Dir, gen)
	if err := mkdirSync(gdir); err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, FormatVersion: FormatVersion, Generation: gen, Previous: previous,
		Created: now, KantorposVersion: o.Version, Dialect: "sqlite", DataDir: o.DataDir}
	m.Hostname, _ = os.Hostname()
	m.Blobs = []BlobSum{}
	res := &Result{Manifest: m}

	snap := filepath.Join(gdir, dbFile)
	var info sqlstore.SnapshotInfo
	var missing []MissingBlob
	for round := 1; ; round++ {
		m.Rounds = round
		os.Remove(snap)
		pr.Start("snapshot of the database", -1, false)
		err := sqlstore.Snapshot(ctx, dbPath, snap)
		pr.Done()
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		if o.afterSnapshot != nil {
			o.afterSnapshot(round)
		}
		if info, err = sqlstore.ReadSnapshot(ctx, snap, false); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		missing, err = copyBlobs(ctx, o, info, res, pr)
		if err != nil {
			return nil, err
		}
		if len(missing) == 0 {
			break
		}
		collected := true
		for i, mb := range missing {
			if mb.Reason != "" {
				collected = false // damaged in the live data
				continue
			}
			live, err := sqlstore.BlobRowExists(ctx, dbPath, mb.SHA256)
			if err != nil {
				return nil, fmt.Errorf("backup: %w", err)
			}
			if live {
				missing[i].Reason = "missing in the live data directory (lost mail: run kantorpos verify)"
				collected = false
			} else {
				missing[i].Reason = "removed by garbage collection after the snapshot"
			}
		}
		if !collected || round == maxRounds {
			break
		}
	}
	m.Missing = missing
	m.SchemaVersion = info.SchemaVersion
	m.Counts = info.Counts
	bad := map[string]bool{}
	for _, mb := range missing {
		bad[mb.SHA256] = true
	}
	for _, b := range info.Blobs {
		if !bad[b.Hash] {
			m.Blobs = append(m.Blobs, BlobSum{SHA256: b.Hash, Size: b.Size})
			m.BlobBytes += b.Size
		}
	}
	m.NewBlobs, m.NewBlobBytes = res.Copied, res.CopiedBytes
	size, sum, err := hashFile(snap)
	if err != nil {
		return nil, err
	}
	m.Database = FileSum{Path: dbFile, Size: size, SHA256: sum}
	if m.Files, err = copyOtherFiles(o, gdir); err != nil {
		return nil, err
	}
	if err := writeSums(gdir, m); err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	// The manifest makes the generation complete; LATEST points to it.
	if err := writeFileSync(filepath.Join(gdir, manifestFile), append(body, '\n')); err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(o.Dir, latestFile), []byte(gen+"\n")); err != nil {
		return nil, err
	}
	if o.Keep > 0 {
		if res.Pruned, res.PrunedBlobs, err = prune(o.Dir, o.Keep); err != nil {
			return res, err
		}
	}
	res.Duration = time.Since(start)
	if len(missing) > 0 {
		return res, fmt.Errorf("backup: generation %s is complete but %d blob(s) could not be copied (see missing_blobs in its manifest)", gen, len(missing))
	}
	return res, nil
}

// initDir creates a backup directory, or checks that an existing one is
// a kantorpos backup (or empty).
func initDir(dir string) error {
	marker := filepath.Join(dir, markerFile)
	if b, err := os.ReadFile(marker); err == nil {
		var v struct {
			Format        string `json:"format"`
			FormatVersion int    `json:"format_version"`
		}
		if json.Unmarshal(b, &v) != nil || v.Format != Format {
			return fmt.Errorf("backup: %s is not a kantorpos backup directory", dir)
		}
		if v.FormatVersion > FormatVersion {
			return fmt.Errorf("backup: %s has format version %d; this kantorpos writes %d", dir, v.FormatVersion, FormatVersion)
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		return fmt.Errorf("backup: %s is not empty and not a kantorpos backup directory", dir)
	}
	if err := mkdirSync(filepath.Join(dir, blobsDir)); err != nil {
		return err
	}
	if err := mkdirSync(filepath.Join(dir, gensDir)); err != nil {
		return err
	}
	return writeFileSync(marker, []byte(fmt.Sprintf("{\"format\": %q, \"format_version\": %d}\n", Format, FormatVersion)))
}

// removeIncomplete removes generation directories without a manifest
// (left by an interrupted run).
func removeIncomplete(dir string) {
	entries, _ := os.ReadDir(filepath.Join(dir, gensDir))
	for _, e := range entries {
		p := filepath.Join(dir, gensDir, e.Name())
		if _, err := os.Stat(filepath.Join(p, manifestFile)); os.IsNotExist(err) {
			os.RemoveAll(p)
		}
	}
}

// copyBlobs copies the blobs of a snapshot that the backup directory does
// not hold yet, and returns those it could not copy. A blob file already
// there with the right size is taken as present (content addressing);
// `backup verify` re-hashes them.
func copyBlobs(ctx context.Context, o Options, info sqlstore.SnapshotInfo, res *Result, pr progress.Reporter) ([]MissingBlob, error) {
	var todo []int
	var todoBytes int64
	for i, b := range info.Blobs {
		if fi, err := os.Stat(blobPath(o.Dir, b.Hash)); err == nil && fi.Size() == b.Size {
			res.Present++
			continue
		}
		todo = append(todo, i)
		todoBytes += b.Size
	}
	pr.Start(fmt.Sprintf("copying %d new blobs", len(todo)), todoBytes, true)
	defer pr.Done()
	var (
		mu      sync.Mutex
		missing []MissingBlob
		dirs    = map[string]bool{}
		firstEr error
		wg      sync.WaitGroup
	)
	work := make(chan int)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				b := info.Blobs[i]
				dst := blobPath(o.Dir, b.Hash)
				mb, err := copyBlob(filepath.Join(o.DataDir, blobsDir, b.Hash[:2], b.Hash), dst, b.Hash, b.Size)
				mu.Lock()
				switch {
				case err != nil:
					if firstEr == nil {
						firstEr = err
					}
				case mb != nil:
					missing = append(missing, *mb)
				default:
					res.Copied++
					res.CopiedBytes += b.Size
					dirs[filepath.Dir(dst)] = true
				}
				mu.Unlock()
				pr.Add(b.Size)
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstEr != nil {
		return nil, firstEr
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return nil, err
		}
	}
	if len(dirs) > 0 {
		if err := syncDir(filepath.Join(o.Dir, blobsDir)); err != nil {
			return nil, err
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].SHA256 < missing[j].SHA256 })
	return missing, nil
}

// copyBlob copies one blob, checking its content against its name. A
// source that is missing or damaged gives a MissingBlob (Reason empty when
// the file is simply not there); an error means the backup side failed.
func copyBlob(src, dst, hash string, size int64) (*MissingBlob, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	n, sum, err := copyFile(src, dst+".part")
	if errors.Is(err, fs.ErrNotExist) {
		return &MissingBlob{SHA256: hash, Size: size}, nil
	}
	if err != nil {
		return nil, err
	}
	if sum != hash || n != size {
		os.Remove(dst + ".part")
		return &MissingBlob{SHA256: hash, Size: size,
			Reason: fmt.Sprintf("damaged in the live data directory: %d bytes with SHA-256 %s (run kantorpos verify)", n, sum)}, nil
	}
	if err := os.Rename(dst+".part", dst); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return nil, nil
}

// copyOtherFiles copies the data directory's other files (certificates,
// import state) and the configuration file into the generation.
func copyOtherFiles(o Options, gdir string) ([]FileSum, error) {
	var out []FileSum
	skip := map[string]bool{blobsDir: true, dbFile: true, dbFile + "-wal": true, dbFile + "-shm": true, dbFile + "-journal": true}
	absBackup, _ := filepath.Abs(o.Dir)
	err := filepath.WalkDir(o.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(o.DataDir, p)
		if rel == "." {
			return nil
		}
		if abs, _ := filepath.Abs(p); abs == absBackup || skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		dst := filepath.Join(gdir, "files", rel)
		if err := mkdirSync(filepath.Dir(dst)); err != nil {
			return err
		}
		n, sum, err := copyFile(p, dst)
		if err != nil {
			return err
		}
		out = append(out, FileSum{Path: filepath.ToSlash(filepath.Join("files", rel)), Size: n, SHA256: sum, RestoreTo: filepath.ToSlash(rel)})
		return syncDir(filepath.Dir(dst))
	})
	if err != nil {
		return nil, fmt.Errorf("backup: data directory files: %w", err)
	}
	if o.ConfigFile != "" {
		dst := filepath.Join(gdir, "config", filepath.Base(o.ConfigFile))
		if err := mkdirSync(filepath.Dir(dst)); err != nil {
			return nil, err
		}
		n, sum, err := copyFile(o.ConfigFile, dst)
		if err != nil {
			return nil, fmt.Errorf("backup: configuration file: %w", err)
		}
		if err := syncDir(filepath.Dir(dst)); err != nil {
			return nil, err
		}
		out = append(out, FileSum{Path: "config/" + filepath.Base(o.ConfigFile), Size: n, SHA256: sum})
	}
	return out, nil
}

// prune keeps the newest keep generations and removes the blobs that no
// kept generation refers to.
func prune(dir string, keep int) ([]string, int, error) {
	gens, err := Generations(dir)
	if err != nil || len(gens) <= keep {
		return nil, 0, err
	}
	old := gens[:len(gens)-keep]
	wanted := map[string]bool{}
	for _, g := range gens[len(gens)-keep:] {
		m, err := ReadManifest(dir, g)
		if err != nil {
			return nil, 0, err
		}
		for _, b := range m.Blobs {
			wanted[b.SHA256] = true
		}
	}
	for _, g := range old {
		// Remove the manifest first: a half-removed generation is incomplete.
		if err := os.Remove(filepath.Join(genPath(dir, g), manifestFile)); err != nil {
			return nil, 0, fmt.Errorf("backup: prune %s: %w", g, err)
		}
		if err := os.RemoveAll(genPath(dir, g)); err != nil {
			return nil, 0, fmt.Errorf("backup: prune %s: %w", g, err)
		}
	}
	removed := 0
	shards, _ := os.ReadDir(filepath.Join(dir, blobsDir))
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(dir, blobsDir, sh.Name()))
		for _, f := range files {
			name := f.Name()
			if wanted[name] {
				continue
			}
			// Unreferenced blobs and leftovers of an interrupted copy.
			if len(name) == 64 || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part") {
				if os.Remove(filepath.Join(dir, blobsDir, sh.Name(), name)) == nil && len(name) == 64 {
					removed++
				}
			}
		}
	}
	return old, removed, syncDir(filepath.Join(dir, gensDir))
}

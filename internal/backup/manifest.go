// Package backup makes consistent online backups of a kantorpos data
// directory (SQLite database and blob files), verifies them and restores
// them. See docs/BACKUP.md for the format and the incremental design.
//
// Layout of a backup directory:
//
//	DIR/kantorpos-backup.json         marker: format and version
//	DIR/blobs/ab/<sha256>             message bodies, shared by every generation
//	DIR/generations/<UTC time>/       one complete backup ("generation"):
//	    kantorpos.db                  the database snapshot (one file)
//	    files/...                     other files of the data directory (tls/...)
//	    config/<name>                 the configuration file, when given
//	    SHA256SUMS                    sha256sum -c compatible list of everything
//	    manifest.json                 written last: the generation is complete
//	DIR/LATEST                        name of the newest complete generation
package backup

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// Format identifies a kantorpos backup; FormatVersion changes when the
// layout or the manifest change incompatibly.
const (
	Format        = "kantorpos-backup"
	FormatVersion = 1
)

// File names inside a backup directory.
const (
	markerFile   = "kantorpos-backup.json"
	latestFile   = "LATEST"
	blobsDir     = "blobs"
	gensDir      = "generations"
	manifestFile = "manifest.json"
	sumsFile     = "SHA256SUMS"
	dbFile       = "kantorpos.db"
)

// Manifest describes one generation.
type Manifest struct {
	Format           string    `json:"format"`
	FormatVersion    int       `json:"format_version"`
	Generation       string    `json:"generation"`
	Previous         string    `json:"previous,omitempty"`
	Created          time.Time `json:"created"`
	KantorposVersion string    `json:"kantorpos_version"`
	Dialect          string    `json:"dialect"`
	Hostname         string    `json:"hostname,omitempty"`
	DataDir          string    `json:"data_dir"`
	SchemaVersion    int       `json:"schema_version"`
	// Database is the snapshot, relative to the generation directory.
	Database FileSum                 `json:"database"`
	Counts   sqlstore.SnapshotCounts `json:"counts"`
	// Blobs lists every blob the database refers to; the file is
	// DIR/blobs/<first two hex digits>/<sha256>.
	Blobs     []BlobSum `json:"blobs"`
	BlobBytes int64     `json:"blob_bytes"`
	// NewBlobs and NewBlobBytes are what this run copied (the rest was
	// already in DIR/blobs from earlier generations).
	NewBlobs     int   `json:"new_blobs"`
	NewBlobBytes int64 `json:"new_blob_bytes"`
	// Files are other files of the data directory (Restore puts them back
	// at RestoreTo) and the configuration file (RestoreTo empty).
	Files []FileSum `json:"files,omitempty"`
	// Missing lists blobs the database refers to that could not be copied
	// (lost or damaged in the live data): the messages using them are
	// restored without content. Empty in a good backup.
	Missing []MissingBlob `json:"missing_blobs,omitempty"`
	// Rounds is how many snapshots the run took (more than one when
	// garbage collection removed a blob between snapshot and copy).
	Rounds int `json:"rounds"`
}

// FileSum is a file with its size and SHA-256.
type FileSum struct {
	Path      string `json:"path"` // relative to the generation directory
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	RestoreTo string `json:"restore_to,omitempty"` // relative to the data directory
}

// BlobSum is one blob: its content's SHA-256 (also its name) and size.
type BlobSum struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// MissingBlob is a blob that could not be backed up.
type MissingBlob struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

func blobPath(dir, hash string) string {
	return filepath.Join(dir, blobsDir, hash[:2], hash)
}

func genPath(dir, gen string) string { return filepath.Join(dir, gensDir, gen) }

// ReadManifest reads the manifest of a generation ("" = the latest).
func ReadManifest(dir, gen string) (*Manifest, error) {
	if gen == "" {
		var err error
		if gen, err = Latest(dir); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(filepath.Join(genPath(dir, gen), manifestFile))
	if err != nil {
		return nil, fmt.Errorf("backup: generation %s: %w", gen, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup: generation %s: manifest: %w", gen, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("backup: generation %s: not a kantorpos backup manifest", gen)
	}
	if m.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("backup: generation %s has format version %d; this kantorpos reads up to %d", gen, m.FormatVersion, FormatVersion)
	}
	return &m, nil
}

// Latest returns the name of the newest complete generation.
func Latest(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, latestFile))
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("backup: %s holds no complete backup (no %s)", dir, latestFile)
		}
		return "", fmt.Errorf("backup: %w", err)
	}
	gen := strings.TrimSpace(string(b))
	if gen == "" || strings.ContainsAny(gen, `/\`) || gen == "." || gen == ".." {
		return "", fmt.Errorf("backup: %s: bad %s", dir, latestFile)
	}
	return gen, nil
}

// Generations lists the complete generations (those with a manifest),
// oldest first.
func Generations(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, gensDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, gensDir, e.Name(), manifestFile)); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// writeSums writes a SHA256SUMS file that `sha256sum -c` checks from the
// generation directory.
func writeSums(genDir string, m *Manifest) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", m.Database.SHA256, m.Database.Path)
	for _, f := range m.Files {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Path)
	}
	for _, bl := range m.Blobs {
		fmt.Fprintf(&b, "%s  ../../%s/%s/%s\n", bl.SHA256, blobsDir, bl.SHA256[:2], bl.SHA256)
	}
	return writeFileSync(filepath.Join(genDir, sumsFile), []byte(b.String()))
}

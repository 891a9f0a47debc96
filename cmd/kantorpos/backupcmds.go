package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/kantorpos/kantorpos/internal/backup"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/store/sqlstore"
)

// errPostgresBackup explains what to do instead in cluster mode.
var errPostgresBackup = errors.New(`storage.driver is "postgres": kantorpos backup handles SQLite data directories. ` +
	`In PostgreSQL mode the database holds everything, message bodies included: back it up with PostgreSQL's own tools ` +
	`(pg_dump -Fc for a logical copy, pg_basebackup with WAL archiving for point-in-time recovery); see docs/BACKUP.md`)

func checkSQLite(c config.Config) error {
	if c.Storage.Driver == "postgres" {
		return errPostgresBackup
	}
	return nil
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return mb(n) / d.Seconds()
}

// cmdBackup: backup DIR | backup verify DIR | backup list DIR.
func cmdBackup(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return cmdBackupVerify(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "list" {
		return cmdBackupList(e, args[1:])
	}
	fs := newFlags(e, "backup")
	var d dataFlags
	d.register(fs)
	keep := fs.Int("keep", 7, "generations to keep (0 = all); older ones and the blobs only they use are removed")
	workers := fs.Int("workers", 4, "blobs copied in parallel")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "one backup directory"); err != nil {
		return err
	}
	c, err := d.load(e)
	if err != nil {
		return err
	}
	if err := checkSQLite(c); err != nil {
		return err
	}
	res, err := backup.Run(ctx, backup.Options{DataDir: c.DataDir, Dir: pos[0], ConfigFile: d.config, Keep: *keep,
		Version: buildVersion(), Workers: *workers, Progress: newProgress(e)})
	if res != nil {
		m := res.Manifest
		fmt.Fprintf(e.stdout, "backup %s of %s into %s\n", m.Generation, c.DataDir, pos[0])
		fmt.Fprintf(e.stdout, "  database: %.1f MiB snapshot (%d accounts, %d mailboxes, %d messages, %d queued), %d snapshot(s)\n",
			mb(m.Database.Size), m.Counts.Accounts, m.Counts.Mailboxes, m.Counts.Messages, m.Counts.Queue, m.Rounds)
		fmt.Fprintf(e.stdout, "  blobs: %d referenced (%.1f MiB): %d copied (%.1f MiB), %d already in the backup\n",
			len(m.Blobs), mb(m.BlobBytes), res.Copied, mb(res.CopiedBytes), res.Present)
		for _, x := range m.Missing {
			fmt.Fprintf(e.stdout, "  NOT BACKED UP: blob %s: %s\n", x.SHA256, x.Reason)
		}
		if len(res.Pruned) > 0 {
			fmt.Fprintf(e.stdout, "  pruned %d old generation(s) and %d blob(s) (keeping %d)\n", len(res.Pruned), res.PrunedBlobs, *keep)
		}
		fmt.Fprintf(e.stdout, "  took %s (%.1f MiB/s copied)\n", res.Duration.Round(time.Millisecond),
			rate(m.Database.Size+res.CopiedBytes, res.Duration))
	}
	return err
}

func cmdBackupVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "backup verify")
	gen := fs.String("generation", "", "generation to check (default: the latest)")
	all := fs.Bool("all", false, "check every generation")
	quick := fs.Bool("quick", false, "check blob sizes only, not their SHA-256")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "one backup directory"); err != nil {
		return err
	}
	start := time.Now()
	res, err := backup.Verify(ctx, pos[0], backup.VerifyOptions{Generation: *gen, All: *all, Quick: *quick, Progress: newProgress(e)})
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintln(e.stdout, p)
	}
	took := time.Since(start)
	fmt.Fprintf(e.stdout, "checked generation(s) %v: %d blobs, %.1f MiB in %s (%.1f MiB/s): %d problem(s)\n",
		res.Generations, res.Blobs, mb(res.Bytes), took.Round(time.Millisecond), rate(res.Bytes, took), len(res.Problems))
	if len(res.Problems) > 0 {
		return fmt.Errorf("the backup in %s has %d problem(s)", pos[0], len(res.Problems))
	}
	return nil
}

func cmdBackupList(e *env, args []string) error {
	if err := want(args, 1, "one backup directory"); err != nil {
		return err
	}
	gens, err := backup.Generations(args[0])
	if err != nil {
		return err
	}
	for _, g := range gens {
		m, err := backup.ReadManifest(args[0], g)
		if err != nil {
			fmt.Fprintf(e.stdout, "%s\t%v\n", g, err)
			continue
		}
		fmt.Fprintf(e.stdout, "%s\t%d messages\t%d blobs (%.1f MiB, %d new)\tkantorpos %s\n",
			g, m.Counts.Messages, len(m.Blobs), mb(m.BlobBytes), m.NewBlobs, m.KantorposVersion)
	}
	return nil
}

func cmdRestore(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "restore")
	var d dataFlags
	d.register(fs)
	gen := fs.String("generation", "", "generation to restore (default: the latest)")
	force := fs.Bool("force", false, "restore into a non-empty data directory (its database files are renamed aside)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := want(pos, 1, "one backup directory"); err != nil {
		return err
	}
	c, err := d.load(e)
	if err != nil {
		return err
	}
	if err := checkSQLite(c); err != nil {
		return err
	}
	res, err := backup.Restore(ctx, backup.RestoreOptions{Dir: pos[0], Generation: *gen, DataDir: c.DataDir, Force: *force, Progress: newProgress(e)})
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(e.stdout, "restored generation %s (taken %s by kantorpos %s) into %s\n", m.Generation,
		m.Created.Format(time.RFC3339), m.KantorposVersion, c.DataDir)
	fmt.Fprintf(e.stdout, "  %d accounts, %d mailboxes, %d messages, %d queued, %d DKIM keys; %d blobs (%.1f MiB) in %s\n",
		m.Counts.Accounts, m.Counts.Mailboxes, m.Counts.Messages, m.Counts.Queue, m.Counts.DKIMKeys,
		res.Blobs, mb(res.Bytes), res.Duration.Round(time.Millisecond))
	if len(m.Missing) > 0 {
		fmt.Fprintf(e.stdout, "  WARNING: %d blob(s) were not in this backup (see missing_blobs in its manifest): their messages have no content; kantorpos verify lists them\n", len(m.Missing))
	}
	for _, a := range res.MovedAside {
		fmt.Fprintf(e.stdout, "  the previous %s was moved to %s\n", filepath.Base(a[:len(a)-len(filepath.Ext(a))]), a)
	}
	if res.Config != "" {
		fmt.Fprintf(e.stdout, "  the backed-up configuration file is %s\n", res.Config)
	}
	fmt.Fprintln(e.stdout, "  start the server with this data directory to serve the restored mail")
	return nil
}

func cmdVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify")
	var d dataFlags
	d.register(fs)
	repair := fs.Bool("repair", false, "fix reference counts, UIDNEXT, used bytes, and remove orphaned blob files older than the grace period")
	quick := fs.Bool("quick", false, "check blob files' sizes only, not their SHA-256")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	c, err := d.load(e)
	if err != nil {
		return err
	}
	ops, closeFn, err := openOps(ctx, e, c)
	if err != nil {
		return err
	}
	defer closeFn()
	st, ok := ops.Store.(*sqlstore.Store)
	if !ok {
		return errors.New("verify needs the SQL store")
	}
	start := time.Now()
	pr := newProgress(e)
	pr.Start("checking blobs", -1, true)
	r, err := st.Verify(ctx, sqlstore.VerifyOptions{Repair: *repair, Quick: *quick, Progress: func(n int64) { pr.Add(n) }})
	pr.Done()
	if err != nil {
		return err
	}
	printVerify(e, r, time.Since(start))
	if r.Unrepairable() || (!*repair && !r.OK()) {
		return fmt.Errorf("problems found%s", map[bool]string{true: " that cannot be repaired", false: " (run with -repair to fix what can be fixed)"}[*repair])
	}
	return nil
}

// printVerify prints a verify report for an administrator.
func printVerify(e *env, r *sqlstore.VerifyReport, took time.Duration) {
	w := e.stdout
	fmt.Fprintf(w, "checked %d accounts, %d mailboxes, %d messages, %d queue entries, %d blobs (%.1f MiB), %d blob files in %s\n",
		r.Accounts, r.Mailboxes, r.Messages, r.QueueEntries, r.Blobs, mb(r.BlobBytes), r.Files, took.Round(time.Millisecond))
	for _, p := range r.Missing {
		fmt.Fprintf(w, "MISSING blob %s (%d bytes): its file is gone\n", p.Hash, p.Size)
	}
	for _, p := range r.Corrupt {
		fmt.Fprintf(w, "DAMAGED blob %s (%d bytes): %s\n", p.Hash, p.Size, p.Detail)
	}
	for _, l := range r.Lost {
		fmt.Fprintf(w, "LOST MAIL: %s\n", l)
	}
	for _, d := range r.Dangling {
		fmt.Fprintf(w, "DANGLING: %s\n", d)
	}
	for _, p := range r.WrongRefs {
		fmt.Fprintf(w, "reference count of blob %s is %d, %d rows use it\n", p.Hash, p.Stored, p.Real)
	}
	for _, u := range r.UIDs {
		fmt.Fprintf(w, "UID: %s\n", u)
	}
	for _, s := range r.Sizes {
		fmt.Fprintf(w, "size: %s\n", s)
	}
	for _, o := range r.Orphans {
		state := "orphan"
		if o.Removed {
			state = "orphan, removed"
		}
		fmt.Fprintf(w, "blob file %s (%d bytes, %s) has no row (%s)\n", o.Hash, o.Size, o.ModTime.Format(time.RFC3339), state)
	}
	if r.RecentUnreferenced > 0 {
		fmt.Fprintf(w, "%d recent blob file(s) without a row: deliveries in progress, not counted as orphans\n", r.RecentUnreferenced)
	}
	for _, s := range r.Repaired {
		fmt.Fprintf(w, "repaired: %s\n", s)
	}
	switch {
	case r.OK():
		fmt.Fprintln(w, "ok: no problem found")
	case r.Unrepairable():
		fmt.Fprintf(w, "%d message(s) or queue entries have lost or damaged content; restore them from a backup (kantorpos restore into a new directory, then kantorpos export/import)\n", len(r.Lost))
	}
}

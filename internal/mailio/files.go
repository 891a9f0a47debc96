package mailio

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailio/maildir"
	"github.com/kantorpos/kantorpos/internal/mailio/mbox"
	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store"
)

// ImportMaildir imports a Maildir or a Maildir++ tree (Dovecot's layout):
// the root is INBOX, ".Work.Sub" is Work/Sub. Messages in new/ are
// unseen; the flags of cur/ messages come from their names and the
// folder's dovecot-keywords. The internal date is the file's modification
// time (what Dovecot uses). Messages already in the target mailbox with
// the same content are skipped, so an interrupted import can be run again.
func (im *Importer) ImportMaildir(ctx context.Context, root string) error {
	start := time.Now()
	defer func() { im.Summary.Duration += time.Since(start) }()
	pr := progress.Or(im.Progress)
	folders, err := maildir.Folders(root)
	if err != nil {
		return err
	}
	type job struct {
		f    maildir.Folder
		msgs []maildir.Message
		kw   *maildir.Keywords
	}
	var jobs []job
	var total int64
	for _, f := range folders {
		msgs, err := maildir.Messages(f.Dir)
		if err != nil {
			return err
		}
		kw, err := maildir.ReadKeywords(f.Dir)
		if err != nil {
			return err
		}
		jobs = append(jobs, job{f, msgs, kw})
		total += int64(len(msgs))
	}
	pr.Start("importing Maildir", total, false)
	defer pr.Done()
	for _, j := range jobs {
		folder, err := im.Folder(ctx, j.f.Name, FolderOptions{SpecialUse: wellKnownSpecialUse(j.f.Name)})
		if err != nil {
			return fmt.Errorf("folder %s: %w", j.f.Name, err)
		}
		i := 0
		err = folder.AddAll(ctx, 4, func() (*Item, error) {
			for ; i < len(j.msgs); i++ {
				m := j.msgs[i]
				data, err := readBounded(m.Path)
				if err != nil {
					im.Summary.fail(m.Path, err)
					pr.Add(1)
					continue
				}
				var flags []string
				if !m.New {
					flags = m.Name.Flags(j.kw.Names)
				}
				i++
				return &Item{Data: data, Flags: flags, Date: m.ModTime, Label: m.Path, Progress: 1}, nil
			}
			return nil, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxMessage+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("larger than %d bytes", MaxMessage)
	}
	return b, nil
}

// wellKnownSpecialUse gives the special use of the folder names our
// default mailboxes have, so that a new account's Sent is not duplicated.
func wellKnownSpecialUse(name string) string {
	for _, d := range store.DefaultMailboxes {
		if d.Name == name {
			return d.SpecialUse
		}
	}
	return ""
}

// ImportMbox imports mbox files. path is a file (imported into folder,
// or, when folder is "", into the folder named like the file without
// ".mbox"; "inbox" is INBOX) or a directory whose files are imported into
// folders named by their paths ("Work/Sub.mbox" is Work/Sub).
func (im *Importer) ImportMbox(ctx context.Context, path, folder string, f mbox.Format) error {
	start := time.Now()
	defer func() { im.Summary.Duration += time.Since(start) }()
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	type file struct{ path, folder string }
	var files []file
	var total int64
	if !fi.IsDir() {
		if folder == "" {
			folder = mboxFolderName(filepath.Base(path))
		}
		files = []file{{path, folder}}
		total = fi.Size()
	} else {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			name := mboxFolderName(filepath.ToSlash(rel))
			if folder != "" {
				name = folder + "/" + name
			}
			files = append(files, file{p, name})
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Slice(files, func(i, j int) bool { return files[i].folder < files[j].folder })
	}
	pr := progress.Or(im.Progress)
	pr.Start("importing mbox", total, true)
	defer pr.Done()
	for _, fl := range files {
		if err := im.importMboxFile(ctx, fl.path, fl.folder, f, pr); err != nil {
			return err
		}
	}
	return nil
}

func mboxFolderName(rel string) string {
	name := strings.TrimSuffix(rel, ".mbox")
	if strings.EqualFold(name, "inbox") || name == "mbox" {
		return store.Inbox
	}
	return store.CanonicalName(name)
}

func (im *Importer) importMboxFile(ctx context.Context, path, name string, f mbox.Format, pr progress.Reporter) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	folder, err := im.Folder(ctx, name, FolderOptions{SpecialUse: wellKnownSpecialUse(name)})
	if err != nil {
		return fmt.Errorf("folder %s: %w", name, err)
	}
	r := mbox.NewReader(in, f, MaxMessage)
	var last int64
	err = folder.AddAll(ctx, 4, func() (*Item, error) {
		m, err := r.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		done := m.Offset - last
		last = m.Offset
		date := m.Date
		if date.IsZero() {
			date = time.Now()
		}
		return &Item{Data: m.Data, Flags: m.Flags, Date: date, Label: fmt.Sprintf("%s at offset %d", path, m.Offset), Progress: done}, nil
	})
	if err != nil {
		return err
	}
	if fi, err := in.Stat(); err == nil {
		pr.Add(fi.Size() - last)
	}
	return nil
}

package mailio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailio/maildir"
	"github.com/kantorpos/kantorpos/internal/mailio/mbox"
	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Exporter writes the mailboxes of one account out. What it writes of a
// message is what an IMAP client downloads: the per-recipient prefix
// (Return-Path, Delivered-To) followed by the stored body. So an export
// imported again (which stores the whole file as the body) gives the same
// bytes to clients.
type Exporter struct {
	Store    Store
	Account  store.Account
	Progress progress.Reporter
	Summary  Summary
}

// checkEmpty refuses to export into a directory that holds something.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return os.MkdirAll(dir, 0o700)
}

// each calls fn for every message of every mailbox, in name and UID order.
func (ex *Exporter) each(ctx context.Context, fn func(mb store.Mailbox, m *store.Message, c store.Content) error,
	folder func(mb store.Mailbox, start bool) error) error {
	mbs, err := ex.Store.Mailboxes(ctx, ex.Account.ID)
	if err != nil {
		return err
	}
	var total int64
	for _, mb := range mbs {
		st, err := ex.Store.MailboxStatus(ctx, mb.ID)
		if err == nil {
			total += st.Size
		}
	}
	pr := progress.Or(ex.Progress)
	pr.Start("exporting "+ex.Account.Address, total, true)
	defer pr.Done()
	for _, mb := range mbs {
		if err := folder(mb, true); err != nil {
			return err
		}
		ex.Summary.Folders++
		states, err := ex.Store.MessageStates(ctx, mb.ID)
		if err != nil {
			return err
		}
		for i := 0; i < len(states); i += 500 {
			chunk := states[i:min(i+500, len(states))]
			msgs, err := ex.Store.FetchMessages(ctx, mb.ID, store.UIDSet{{Start: chunk[0].UID, Stop: chunk[len(chunk)-1].UID}}, store.FetchOptions{})
			if err != nil {
				return err
			}
			for j := range msgs {
				if err := ctx.Err(); err != nil {
					return err
				}
				m := &msgs[j]
				c, err := ex.Store.OpenMessage(ctx, m)
				if err != nil {
					ex.Summary.fail(fmt.Sprintf("%s UID %d", mb.Name, m.UID), err)
					continue
				}
				err = fn(mb, m, c)
				c.Close()
				if err != nil {
					return fmt.Errorf("%s UID %d: %w", mb.Name, m.UID, err)
				}
				ex.Summary.Messages++
				ex.Summary.Bytes += m.Size
				pr.Add(m.Size)
			}
		}
		if err := folder(mb, false); err != nil {
			return err
		}
	}
	return nil
}

// ExportMaildir writes every mailbox as a Maildir++ folder under dir (INBOX
// at the root, Work/Sub in ".Work.Sub"), flags as letters in the file
// names with dovecot-keywords, the internal date as the file time. dir
// must be empty or missing.
func (ex *Exporter) ExportMaildir(ctx context.Context, dir string) error {
	start := time.Now()
	defer func() { ex.Summary.Duration += time.Since(start) }()
	if err := checkEmpty(dir); err != nil {
		return err
	}
	var w *maildir.FolderWriter
	return ex.each(ctx, func(mb store.Mailbox, m *store.Message, c store.Content) error {
		base := fmt.Sprintf("%d.V%dU%d.kantorpos", m.InternalDate.Unix(), mb.UIDValidity, m.UID)
		dropped, err := w.WriteUID(m.UID, base, c, m.Flags, m.InternalDate)
		ex.Summary.DroppedKeywords += len(dropped)
		return err
	}, func(mb store.Mailbox, begin bool) error {
		if begin {
			var err error
			w, err = maildir.CreateFolder(dir, mb.Name)
			if w != nil {
				w.UIDValidity, w.UIDNext = mb.UIDValidity, mb.UIDNext
			}
			return err
		}
		return w.Close()
	})
}

var returnPath = regexp.MustCompile(`(?im)^Return-Path:\s*<([^>\s]*)>`)

// ExportMbox writes every mailbox as an mboxrd file under dir: INBOX is
// INBOX.mbox, Work/Sub is Work/Sub.mbox. The From_ line has the
// Return-Path address and the internal date; flags are in Status,
// X-Status and X-Keywords fields; line ends are LF. dir must be empty or
// missing.
func (ex *Exporter) ExportMbox(ctx context.Context, dir string) error {
	start := time.Now()
	defer func() { ex.Summary.Duration += time.Since(start) }()
	if err := checkEmpty(dir); err != nil {
		return err
	}
	var (
		f *os.File
		w *mbox.Writer
	)
	var buf bytes.Buffer
	return ex.each(ctx, func(mb store.Mailbox, m *store.Message, c store.Content) error {
		buf.Reset()
		if _, err := io.Copy(&buf, c); err != nil {
			return err
		}
		from := ""
		if sm := returnPath.FindSubmatch(m.Prefix); sm != nil {
			from = string(sm[1])
		}
		return w.Write(from, m.InternalDate, buf.Bytes(), m.Flags)
	}, func(mb store.Mailbox, begin bool) error {
		path := filepath.Join(dir, filepath.FromSlash(mb.Name)+".mbox")
		if begin {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			var err error
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
				return err
			}
			w = mbox.NewWriter(f)
			return nil
		}
		err := w.Flush()
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

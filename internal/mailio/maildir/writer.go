package maildir

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FolderWriter writes messages into one Maildir++ folder.
type FolderWriter struct {
	Dir string
	kw  *Keywords
	// UIDValidity and UIDNext, when set, go into dovecot-uidlist with the
	// UID of every message written (WriteUID), so that Dovecot, and our
	// own import, keep the messages' UIDs or at least their order.
	UIDValidity, UIDNext uint32
	uids                 []string
}

// CreateFolder creates the folder of a mailbox under root (cur/, new/,
// tmp/, and the maildirfolder marker of Maildir++ subfolders).
func CreateFolder(root, name string) (*FolderWriter, error) {
	dir := filepath.Join(root, DirName(name))
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	if dir != root {
		if err := os.WriteFile(filepath.Join(dir, "maildirfolder"), nil, 0o600); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	kw, err := ReadKeywords(dir)
	if err != nil {
		return nil, err
	}
	return &FolderWriter{Dir: dir, kw: kw}, nil
}

// Write stores one message in cur/ under base (unique within the folder)
// with its flags in the name and date as the file's modification time
// (Dovecot's INTERNALDATE). The file is written in tmp/, fsynced and
// renamed, as Maildir requires. It returns the keywords that no letter
// could hold (more than 26 in the folder).
func (w *FolderWriter) Write(base string, content io.Reader, flags []string, date time.Time) (dropped []string, err error) {
	return w.WriteUID(0, base, content, flags, date)
}

// WriteUID is Write for a message with a UID (0 = none) to list in
// dovecot-uidlist; UIDs must ascend.
func (w *FolderWriter) WriteUID(uid uint32, base string, content io.Reader, flags []string, date time.Time) (dropped []string, err error) {
	letters, dropped := Letters(flags, w.kw)
	tmp := filepath.Join(w.Dir, "tmp", base)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	size, err := io.Copy(f, content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("maildir: write %s: %w", tmp, err)
	}
	if !date.IsZero() {
		if err := os.Chtimes(tmp, date, date); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	// Our messages have CRLF line ends already: the size is the virtual size.
	final := filepath.Join(w.Dir, "cur", FormatName(base, size, size, letters))
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("maildir: %w", err)
	}
	if uid != 0 {
		w.uids = append(w.uids, fmt.Sprintf("%d :%s\n", uid, filepath.Base(final)))
	}
	return dropped, nil
}

// Close writes dovecot-keywords and fsyncs the folder's directories.
func (w *FolderWriter) Close() error {
	if err := w.kw.Write(w.Dir); err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	if w.UIDValidity != 0 {
		// Version 3 header: V = UIDVALIDITY, N = next UID.
		list := fmt.Sprintf("3 V%d N%d\n%s", w.UIDValidity, w.UIDNext, strings.Join(w.uids, ""))
		if err := os.WriteFile(filepath.Join(w.Dir, "dovecot-uidlist"), []byte(list), 0o600); err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
	}
	for _, d := range []string{filepath.Join(w.Dir, "cur"), w.Dir} {
		f, err := os.Open(d)
		if err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("maildir: fsync %s: %w", d, err)
		}
	}
	return nil
}

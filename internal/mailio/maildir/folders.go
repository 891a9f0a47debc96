package maildir

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/mailio/mutf7"
	"github.com/kantorpos/kantorpos/internal/store"
)

// FolderName turns a Maildir++ directory name (".Work.Sub", modified
// UTF-7 components) into a mailbox name ("Work/Sub"). "" and "." are INBOX.
func FolderName(dir string) (string, error) {
	if dir == "" || dir == "." {
		return store.Inbox, nil
	}
	if !strings.HasPrefix(dir, ".") || dir == ".." {
		return "", fmt.Errorf("maildir: %q is not a Maildir++ folder", dir)
	}
	parts := strings.Split(dir[1:], ".")
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("maildir: %q has an empty component", dir)
		}
		d, err := mutf7.Decode(p)
		if err != nil {
			return "", fmt.Errorf("maildir: folder %q: %w", dir, err)
		}
		if strings.ContainsRune(d, store.HierarchySep) {
			d = strings.ReplaceAll(d, string(store.HierarchySep), "_")
		}
		parts[i] = d
	}
	name := store.CanonicalName(strings.Join(parts, string(store.HierarchySep)))
	if err := store.ValidMailboxName(name); err != nil {
		return "", fmt.Errorf("maildir: folder %q: %w", dir, err)
	}
	return name, nil
}

// DirName is the inverse of FolderName: INBOX is "" (the Maildir root),
// "Work/Sub" is ".Work.Sub". A "." inside a component is written "&AC4-"
// (its modified UTF-7 spelling), so it reads back as a dot.
func DirName(name string) string {
	if store.IsInbox(name) {
		return ""
	}
	parts := strings.Split(name, string(store.HierarchySep))
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(mutf7.Encode(p), ".", "&AC4-")
	}
	return "." + strings.Join(parts, ".")
}

// Keywords is a folder's dovecot-keywords: keyword letters a-z in order.
type Keywords struct {
	Names []string // index 0 is letter a
}

// MaxKeywords is how many keywords letters a-z can name.
const MaxKeywords = 26

// ReadKeywords reads dir/dovecot-keywords ("N name" lines); a missing
// file is an empty list.
func ReadKeywords(dir string) (*Keywords, error) {
	kw := &Keywords{}
	f, err := os.Open(filepath.Join(dir, "dovecot-keywords"))
	if errors.Is(err, fs.ErrNotExist) {
		return kw, nil
	}
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		num, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 0 || i >= MaxKeywords || name == "" {
			continue
		}
		for len(kw.Names) <= i {
			kw.Names = append(kw.Names, "")
		}
		kw.Names[i] = strings.TrimSpace(name)
	}
	return kw, sc.Err()
}

// Letter returns the letter of a keyword, assigning the next free one.
func (k *Keywords) Letter(name string) (byte, bool) {
	if k == nil {
		return 0, false
	}
	for i, n := range k.Names {
		if strings.EqualFold(n, name) {
			return byte('a' + i), true
		}
	}
	if len(k.Names) >= MaxKeywords {
		return 0, false
	}
	k.Names = append(k.Names, name)
	return byte('a' + len(k.Names) - 1), true
}

// Write writes dir/dovecot-keywords (nothing when there are no keywords).
func (k *Keywords) Write(dir string) error {
	if len(k.Names) == 0 {
		return nil
	}
	var b strings.Builder
	for i, n := range k.Names {
		fmt.Fprintf(&b, "%d %s\n", i, n)
	}
	return os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte(b.String()), 0o600)
}

// ReadUIDList reads dir/dovecot-uidlist and maps each message's base name
// to its Dovecot UID, so an import keeps Dovecot's message order.
func ReadUIDList(dir string) map[string]uint32 {
	f, err := os.Open(filepath.Join(dir, "dovecot-uidlist"))
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]uint32{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first { // version header: "3 V1234 N5 G..."
			first = false
			continue
		}
		// "<uid> [extension fields] :<file name>"
		uidStr, rest, ok := strings.Cut(line, " ")
		i := strings.Index(rest, ":")
		if !ok || i < 0 {
			continue
		}
		uid, err := strconv.ParseUint(uidStr, 10, 32)
		if err != nil {
			continue
		}
		out[ParseName(rest[i+1:]).Base] = uint32(uid)
	}
	return out
}

// Folder is one folder of a Maildir++ tree.
type Folder struct {
	Name string // mailbox name
	Dir  string // directory holding cur/, new/, tmp/
}

// Folders lists the folders of a Maildir++ root: the root itself (INBOX,
// when it has cur/ or new/) and every ".Name" directory with cur/ or new/.
func Folders(root string) ([]Folder, error) {
	var out []Folder
	if isMaildir(root) {
		out = append(out, Folder{Name: store.Inbox, Dir: root})
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, ".") || n == "." || n == ".." {
			continue
		}
		p := filepath.Join(root, n)
		if !isMaildir(p) {
			continue
		}
		name, err := FolderName(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Folder{Name: name, Dir: p})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("maildir: %s holds no Maildir (no cur/ or new/)", root)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// Message is one message file of a folder.
type Message struct {
	Path    string
	Name    Name
	New     bool // in new/: not seen by any client
	ModTime time.Time
	Size    int64
	uid     uint32 // Dovecot's UID, 0 when unknown
}

// Messages lists a folder's messages (cur/ and new/), in Dovecot's UID
// order when dovecot-uidlist knows them, then by file name (which starts
// with the delivery time).
func Messages(dir string) ([]Message, error) {
	uids := ReadUIDList(dir)
	var out []Message
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			n := ParseName(e.Name())
			out = append(out, Message{Path: filepath.Join(dir, sub, e.Name()), Name: n, New: sub == "new",
				ModTime: fi.ModTime(), Size: fi.Size(), uid: uids[n.Base]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.uid == 0) != (b.uid == 0) {
			return a.uid != 0
		}
		if a.uid != b.uid {
			return a.uid < b.uid
		}
		return a.Name.Base < b.Name.Base
	})
	return out, nil
}

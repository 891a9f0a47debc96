// Package mailio imports mail into an account and exports it: Maildir
// (with Dovecot's Maildir++ folders, flag letters and dovecot-keywords),
// mbox, and (package imappull) a remote IMAP server.
//
// Imports go through the store like IMAP APPEND does: the body is written
// to the blob store (Create/Commit), parsed with msgmeta.Parse and added
// with Append, so they work while the server runs and IMAP clients see
// the new mail at once. Line ends are made CRLF (bare LF becomes CRLF),
// as everything in the store is.
package mailio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Store is what import and export use of the store.
type Store interface {
	Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error)
	Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	MailboxByID(ctx context.Context, id int64) (store.Mailbox, error)
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error)
	SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error
	MailboxStatus(ctx context.Context, mailboxID int64) (store.MailboxStatus, error)
	MessageStates(ctx context.Context, mailboxID int64) ([]store.MessageState, error)
	FetchMessages(ctx context.Context, mailboxID int64, uids store.UIDSet, opts store.FetchOptions) ([]store.Message, error)
	OpenMessage(ctx context.Context, m *store.Message) (store.Content, error)
	Append(ctx context.Context, mailboxID int64, m store.NewMessage) (store.Appended, error)
}

// Summary is what an import or export did.
type Summary struct {
	Messages   int
	Bytes      int64
	Folders    int // folders written to
	Created    int // folders created (import)
	Duplicates int // messages skipped because they were already there
	Errors     int
	// ErrorSamples holds the first few errors.
	ErrorSamples []string
	// DroppedKeywords counts keywords a format could not hold.
	DroppedKeywords int
	Duration        time.Duration
}

func (s *Summary) fail(what string, err error) {
	s.Errors++
	if len(s.ErrorSamples) < 20 {
		s.ErrorSamples = append(s.ErrorSamples, what+": "+err.Error())
	}
}

// String is the summary line shown at the end of a run.
func (s *Summary) String() string {
	rate := ""
	if s.Duration > 0 && s.Messages > 0 {
		rate = fmt.Sprintf(" (%.0f msgs/s, %.1f MiB/s)", float64(s.Messages)/s.Duration.Seconds(), float64(s.Bytes)/(1<<20)/s.Duration.Seconds())
	}
	out := fmt.Sprintf("%d messages (%.1f MiB) in %d folders (%d created), %d duplicates skipped, %d errors, %s%s",
		s.Messages, float64(s.Bytes)/(1<<20), s.Folders, s.Created, s.Duplicates, s.Errors, s.Duration.Round(time.Millisecond), rate)
	if s.DroppedKeywords > 0 {
		out += fmt.Sprintf("; %d keywords could not be kept", s.DroppedKeywords)
	}
	return out
}

// MaxMessage bounds one imported message.
const MaxMessage = 1 << 30

// Importer adds messages to the mailboxes of one account.
type Importer struct {
	Store    Store
	Blobs    blob.Store
	Account  store.Account
	Progress progress.Reporter
	Summary  Summary
	// OnAdded, when set, runs after each message is added (tests use it to
	// interrupt an import).
	OnAdded func(n int)

	folders map[string]*Folder
}

// Folder is a mailbox being imported into.
type Folder struct {
	im      *Importer
	Mailbox store.Mailbox
	// dedupe: messages that were in the mailbox before the import (from
	// UID DedupeFrom on), by size; each can absorb one incoming duplicate.
	bySize   map[int64][]*existing
	byMsgID  map[string][]*existing
	loadedID bool
	from     uint32
}

type existing struct {
	msg       store.Message
	hash      string // SHA-256 of prefix + blob, "" until computed
	msgID     string
	consumed  bool
	consumedM bool
}

// FolderOptions say how to find or create a mailbox.
type FolderOptions struct {
	// SpecialUse is the folder's special use at the source (\Sent...).
	// When PreferSpecialUse is set and the account has a mailbox with
	// that attribute, it is used whatever its name (a remote "Sent Items"
	// lands in our Sent).
	SpecialUse       string
	PreferSpecialUse bool
	// DedupeFrom: messages already in the mailbox with UID ≥ DedupeFrom
	// count as duplicates of identical incoming ones (0 = the whole
	// mailbox; ^uint32(0) = none).
	DedupeFrom uint32
}

// Folder returns the mailbox name (creating it, its missing parents, and
// subscribing them), ready to add messages.
func (im *Importer) Folder(ctx context.Context, name string, o FolderOptions) (*Folder, error) {
	name = store.CanonicalName(name)
	key := name + "\x00" + o.SpecialUse
	if f, ok := im.folders[key]; ok {
		return f, nil
	}
	if im.folders == nil {
		im.folders = map[string]*Folder{}
	}
	mbs, err := im.Store.Mailboxes(ctx, im.Account.ID)
	if err != nil {
		return nil, err
	}
	var mb *store.Mailbox
	if o.SpecialUse != "" && o.PreferSpecialUse && !store.IsInbox(name) {
		for i := range mbs {
			if mbs[i].SpecialUse == o.SpecialUse {
				mb = &mbs[i]
				break
			}
		}
	}
	if mb == nil {
		for i := range mbs {
			if mbs[i].Name == name {
				mb = &mbs[i]
				break
			}
		}
	}
	if mb == nil {
		created, err := im.create(ctx, name, o.SpecialUse, mbs)
		if err != nil {
			return nil, err
		}
		mb = &created
	}
	f := &Folder{im: im, Mailbox: *mb, from: o.DedupeFrom}
	if err := f.loadIndex(ctx); err != nil {
		return nil, err
	}
	im.folders[key] = f
	im.Summary.Folders++
	return f, nil
}

// create makes a mailbox and its missing parents, subscribed.
func (im *Importer) create(ctx context.Context, name, specialUse string, mbs []store.Mailbox) (store.Mailbox, error) {
	have := map[string]bool{}
	for _, m := range mbs {
		have[m.Name] = true
		if m.SpecialUse == specialUse {
			specialUse = "" // one mailbox per special use
		}
	}
	parts := strings.Split(name, string(store.HierarchySep))
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], string(store.HierarchySep))
		if have[parent] {
			continue
		}
		if _, err := im.Store.CreateMailbox(ctx, im.Account.ID, parent, ""); err != nil && !errors.Is(err, store.ErrExists) {
			return store.Mailbox{}, fmt.Errorf("create %q: %w", parent, err)
		}
		if err := im.Store.SetSubscribed(ctx, im.Account.ID, parent, true); err != nil {
			return store.Mailbox{}, err
		}
		im.Summary.Created++
	}
	mb, err := im.Store.CreateMailbox(ctx, im.Account.ID, name, specialUse)
	if errors.Is(err, store.ErrExists) {
		return im.Store.Mailbox(ctx, im.Account.ID, name)
	}
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("create %q: %w", name, err)
	}
	im.Summary.Created++
	return mb, im.Store.SetSubscribed(ctx, im.Account.ID, name, true)
}

// loadIndex records the messages already in the mailbox for deduplication.
func (f *Folder) loadIndex(ctx context.Context) error {
	f.bySize = map[int64][]*existing{}
	if f.from == ^uint32(0) {
		return nil
	}
	return f.eachExisting(ctx, f.from, false, func(m store.Message) {
		e := &existing{msg: m}
		if len(m.Prefix) == 0 {
			e.hash = m.Blob.Hash
		}
		f.bySize[m.Size] = append(f.bySize[m.Size], e)
	})
}

// eachExisting calls fn for the mailbox's messages with UID ≥ from, in
// chunks so that a large mailbox is never held in memory at once.
func (f *Folder) eachExisting(ctx context.Context, from uint32, meta bool, fn func(store.Message)) error {
	states, err := f.im.Store.MessageStates(ctx, f.Mailbox.ID)
	if err != nil {
		return err
	}
	var uids []uint32
	for _, s := range states {
		if s.UID >= from {
			uids = append(uids, s.UID)
		}
	}
	for i := 0; i < len(uids); i += 500 {
		chunk := uids[i:min(i+500, len(uids))]
		msgs, err := f.im.Store.FetchMessages(ctx, f.Mailbox.ID, store.UIDSet{{Start: chunk[0], Stop: chunk[len(chunk)-1]}}, store.FetchOptions{Meta: meta})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if meta {
				m.Meta = &store.MessageMeta{MessageID: m.Meta.MessageID} // keep only what we need
			}
			fn(m)
		}
	}
	return nil
}

// HasMessageID reports (and consumes) a message already in the mailbox
// with this Message-ID and size: the dedupe of an IMAP pull whose
// UIDVALIDITY changed, which must not download every body again.
func (f *Folder) HasMessageID(ctx context.Context, msgID string, size int64) (bool, error) {
	if normMsgID(msgID) == "" {
		return false, nil
	}
	if !f.loadedID {
		f.loadedID = true
		f.byMsgID = map[string][]*existing{}
		err := f.eachExisting(ctx, 0, true, func(m store.Message) {
			id := normMsgID(m.Meta.MessageID)
			f.byMsgID[id] = append(f.byMsgID[id], &existing{msg: m, msgID: id})
		})
		if err != nil {
			return false, err
		}
	}
	for _, e := range f.byMsgID[normMsgID(msgID)] {
		if !e.consumedM && e.msg.Size == size {
			e.consumedM = true
			return true, nil
		}
	}
	return false, nil
}

// normMsgID compares Message-IDs with or without angle brackets.
func normMsgID(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }

// isDuplicate reports (and consumes) an existing message with the same
// content.
func (f *Folder) isDuplicate(ctx context.Context, data []byte) (bool, error) {
	cands := f.bySize[int64(len(data))]
	if len(cands) == 0 {
		return false, nil
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	for _, e := range cands {
		if e.consumed {
			continue
		}
		if e.hash == "" {
			c, err := f.im.Store.OpenMessage(ctx, &e.msg)
			if err != nil {
				return false, err
			}
			hh := sha256.New()
			_, err = io.Copy(hh, c)
			c.Close()
			if err != nil {
				return false, err
			}
			e.hash = hex.EncodeToString(hh.Sum(nil))
		}
		if e.hash == h {
			e.consumed = true
			return true, nil
		}
	}
	return false, nil
}

// Add imports one message (any line ends) unless an identical one was
// already in the mailbox. It returns the UID, 0 for a duplicate.
func (f *Folder) Add(ctx context.Context, data []byte, flags []string, date time.Time) (uint32, error) {
	data = ToCRLF(data)
	if dup, err := f.isDuplicate(ctx, data); err != nil {
		return 0, err
	} else if dup {
		f.im.Summary.Duplicates++
		return 0, nil
	}
	ref, err := writeBlob(ctx, f.im.Blobs, data)
	if err != nil {
		return 0, err
	}
	meta, err := msgmeta.Parse(bytes.NewReader(data), msgmeta.Limits{})
	if err != nil {
		return 0, err
	}
	return f.appendBlob(ctx, ref, meta, flags, date)
}

func writeBlob(ctx context.Context, blobs blob.Store, data []byte) (store.BlobRef, error) {
	w, err := blobs.Create(ctx)
	if err != nil {
		return store.BlobRef{}, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return store.BlobRef{}, err
	}
	return w.Commit(ctx)
}

// appendBlob adds a message whose blob is written.
func (f *Folder) appendBlob(ctx context.Context, ref store.BlobRef, meta *store.MessageMeta, flags []string, date time.Time) (uint32, error) {
	im := f.im
	var kept []string
	for _, fl := range flags {
		if !strings.EqualFold(fl, `\Recent`) {
			kept = append(kept, fl)
		}
	}
	a, err := im.Store.Append(ctx, f.Mailbox.ID, store.NewMessage{Blob: ref, Meta: meta, Flags: kept, InternalDate: date})
	if err != nil {
		return 0, err
	}
	im.Summary.Messages++
	im.Summary.Bytes += ref.Size
	if im.OnAdded != nil {
		im.OnAdded(im.Summary.Messages)
	}
	return a.UID, nil
}

// ToCRLF turns bare LF line ends into CRLF; CRLF stays, and so does a
// bare CR.
func ToCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte("\n"))
	if n == 0 || n == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// Package imappull copies the mail of a remote IMAP account into a local
// account: every selectable folder (special-use folders land in ours: a
// remote \Sent "Sent Items" goes to our Sent), with flags, keywords and
// internal dates. It resumes after an interruption without duplicates.
//
// Resuming: a small state file keeps, per remote folder, its UIDVALIDITY,
// the last remote UID imported, and our mailbox's UIDNEXT when the state
// was saved. A new run fetches only UIDs above the last one. The state is
// saved every few messages, so a crash can lose the record of the last
// few imports: the messages appended after the saved UIDNEXT are the only
// ones that can be duplicates, and a remote message identical in content
// to one of them (each used once) is skipped.
//
// If the remote UIDVALIDITY changed (the folder was recreated, or the
// server renumbered it), the UIDs mean nothing any more: the folder is
// read again from the start and a message is skipped when our mailbox
// already has one with the same Message-ID and size (RFC822.SIZE equals
// our size because we store the bytes the server sent); the bodies of
// skipped messages are never downloaded. The same applies when there is
// no state but the local mailbox already holds mail.
package imappull

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/kantorpos/kantorpos/internal/mailio"
	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Options configure Pull.
type Options struct {
	Addr string // host:port
	// Security is "tls" (implicit, port 993), "starttls" or "none".
	Security  string
	TLSConfig *tls.Config
	User      string
	Password  string
	// StateDir holds the resume state (the data directory's import/).
	StateDir string
	Importer *mailio.Importer
	// SaveEvery is how many messages pass between state saves (default 50).
	SaveEvery int
	// Timeout bounds connecting (default 30s).
	Timeout time.Duration
}

// State is the resume state of one pull.
type State struct {
	Addr    string                  `json:"addr"`
	User    string                  `json:"user"`
	Account string                  `json:"account"`
	Folders map[string]*FolderState `json:"folders"`
}

// FolderState is the resume state of one remote folder.
type FolderState struct {
	UIDValidity  uint32 `json:"uidvalidity"`
	LastUID      uint32 `json:"last_uid"`
	LocalMailbox string `json:"local_mailbox"`
	// LocalUIDNext is our mailbox's next UID when the state was saved:
	// messages from it on may have been imported after that save.
	LocalUIDNext uint32 `json:"local_uidnext"`
}

// StatePath is where the state of a pull is kept.
func StatePath(dir, addr, user, account string) string {
	sum := sha256.Sum256([]byte(addr + "\x00" + user + "\x00" + account))
	return filepath.Join(dir, "imap-"+hex.EncodeToString(sum[:8])+".json")
}

func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{Folders: map[string]*FolderState{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("imappull: state %s: %w", path, err)
	}
	if s.Folders == nil {
		s.Folders = map[string]*FolderState{}
	}
	return &s, nil
}

func saveState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Pull copies the remote account into o.Importer's account.
func Pull(ctx context.Context, o Options) error {
	im := o.Importer
	start := time.Now()
	defer func() { im.Summary.Duration += time.Since(start) }()
	if o.SaveEvery <= 0 {
		o.SaveEvery = 50
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	statePath := StatePath(o.StateDir, o.Addr, o.User, im.Account.Address)
	state, err := loadState(statePath)
	if err != nil {
		return err
	}
	state.Addr, state.User, state.Account = o.Addr, o.User, im.Account.Address
	c, err := dial(o)
	if err != nil {
		return fmt.Errorf("imappull: connect to %s: %w", o.Addr, err)
	}
	defer c.Close()
	// imapclient commands take no context: closing the connection ends
	// whatever command is running when ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(o.User, o.Password).Wait(); err != nil {
		return fmt.Errorf("imappull: login as %s: %w", o.User, err)
	}
	folders, err := listFolders(c)
	if err != nil {
		return fmt.Errorf("imappull: list: %w", err)
	}
	pr := progress.Or(im.Progress)
	var total int64
	for _, f := range folders {
		total += int64(f.messages)
	}
	pr.Start("pulling from "+o.Addr, total, false)
	defer pr.Done()
	p := &puller{o: o, c: c, state: state, path: statePath, pr: pr}
	for _, f := range folders {
		if err := p.folder(ctx, f); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			if serr := saveState(statePath, state); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("imappull: folder %s: %w", f.remote, err)
		}
	}
	return saveState(statePath, state)
}

func dial(o Options) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: o.TLSConfig, Dialer: &net.Dialer{Timeout: o.Timeout}}
	switch o.Security {
	case "tls":
		return imapclient.DialTLS(o.Addr, opts)
	case "starttls":
		return imapclient.DialStartTLS(o.Addr, opts)
	case "none", "":
		return imapclient.DialInsecure(o.Addr, opts)
	}
	return nil, fmt.Errorf("unknown security %q (tls, starttls or none)", o.Security)
}

type remoteFolder struct {
	remote     string // name on the server
	local      string // our mailbox name
	specialUse string
	messages   uint32
}

// listFolders lists the selectable remote folders with their special use
// and message count, INBOX first.
func listFolders(c *imapclient.Client) ([]remoteFolder, error) {
	var lo *imap.ListOptions
	if c.Caps().Has(imap.CapSpecialUse) {
		lo = &imap.ListOptions{ReturnSpecialUse: true}
	}
	list, err := c.List("", "*", lo).Collect()
	if err != nil {
		return nil, err
	}
	var out []remoteFolder
	for _, l := range list {
		f := remoteFolder{remote: l.Mailbox}
		skip := false
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
				skip = true
			case imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
				imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash:
				f.specialUse = string(a)
			}
		}
		if skip {
			continue
		}
		// \All and \Flagged are virtual views of other folders: copying
		// them would duplicate every message.
		if f.specialUse == string(imap.MailboxAttrAll) || f.specialUse == string(imap.MailboxAttrFlagged) {
			continue
		}
		f.local = localName(l.Mailbox, l.Delim)
		if store.ValidMailboxName(f.local) != nil {
			continue
		}
		st, err := c.Status(l.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return nil, fmt.Errorf("status %s: %w", l.Mailbox, err)
		}
		if st.NumMessages != nil {
			f.messages = *st.NumMessages
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if store.IsInbox(out[i].remote) != store.IsInbox(out[j].remote) {
			return store.IsInbox(out[i].remote)
		}
		return out[i].remote < out[j].remote
	})
	return out, nil
}

// localName turns a remote name with its hierarchy delimiter into ours.
func localName(remote string, delim rune) string {
	if store.IsInbox(remote) {
		return store.Inbox
	}
	if delim == 0 || delim == store.HierarchySep {
		return store.CanonicalName(remote)
	}
	parts := strings.Split(remote, string(delim))
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, string(store.HierarchySep), "_")
	}
	return store.CanonicalName(strings.Join(parts, string(store.HierarchySep)))
}

type puller struct {
	o     Options
	c     *imapclient.Client
	state *State
	path  string
	pr    progress.Reporter
}

type remoteMsg struct {
	uid   imap.UID
	size  int64
	msgID string
	flags []string
	date  time.Time
}

// maxBatchBytes bounds the bodies fetched by one UID FETCH.
const maxBatchBytes = 16 << 20

func (p *puller) folder(ctx context.Context, f remoteFolder) error {
	im := p.o.Importer
	sel, err := p.c.Select(f.remote, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine: %w", err)
	}
	st := p.state.Folders[f.remote]
	byMsgID := false
	dedupeFrom := ^uint32(0) // no content dedupe
	switch {
	case st == nil:
		st = &FolderState{}
		p.state.Folders[f.remote] = st
	case st.UIDValidity != sel.UIDValidity:
		// Renumbered: start over, matching by Message-ID and size.
		byMsgID = true
		st.LastUID = 0
	default:
		dedupeFrom = st.LocalUIDNext
	}
	folder, err := im.Folder(ctx, f.local, mailio.FolderOptions{SpecialUse: f.specialUse, PreferSpecialUse: true, DedupeFrom: dedupeFrom})
	if err != nil {
		return err
	}
	if st.UIDValidity == 0 && !byMsgID {
		// No state for this folder: if our mailbox already has mail (a
		// state file lost, or a second source), match by Message-ID.
		mst, err := im.Store.MailboxStatus(ctx, folder.Mailbox.ID)
		if err != nil {
			return err
		}
		byMsgID = mst.Messages > 0
	}
	st.UIDValidity = sel.UIDValidity
	st.LocalMailbox = folder.Mailbox.Name
	if dedupeFrom == ^uint32(0) {
		mb, err := im.Store.MailboxByID(ctx, folder.Mailbox.ID)
		if err != nil {
			return err
		}
		st.LocalUIDNext = mb.UIDNext
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := p.list(st.LastUID)
	if err != nil {
		return err
	}
	p.pr.Add(int64(f.messages) - int64(len(msgs))) // done in an earlier run
	sinceSave := 0
	for i := 0; i < len(msgs); {
		// A batch of bodies, bounded in bytes.
		var batch []remoteMsg
		var bytes int64
		for ; i < len(msgs) && (len(batch) == 0 || bytes+msgs[i].size <= maxBatchBytes) && len(batch) < 100; i++ {
			m := msgs[i]
			if byMsgID {
				dup, err := folder.HasMessageID(ctx, m.msgID, m.size)
				if err != nil {
					return err
				}
				if dup {
					im.Summary.Duplicates++
					st.LastUID = uint32(m.uid)
					p.pr.Add(1)
					continue
				}
			}
			batch = append(batch, m)
			bytes += m.size
		}
		if len(batch) == 0 {
			continue
		}
		bodies, err := p.bodies(batch)
		if err != nil {
			return err
		}
		for _, m := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			body, ok := bodies[m.uid]
			if !ok {
				// Expunged meanwhile: nothing to import.
				st.LastUID = uint32(m.uid)
				p.pr.Add(1)
				continue
			}
			uid, err := folder.Add(ctx, body, m.flags, m.date)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Not skipped: the next run retries it.
				return fmt.Errorf("UID %d: %w", m.uid, err)
			}
			// The state in memory is always consistent: every message
			// appended after it would be saved has a local UID from
			// LocalUIDNext on and a remote UID above LastUID.
			st.LastUID = uint32(m.uid)
			if uid != 0 {
				st.LocalUIDNext = uid + 1
			}
			p.pr.Add(1)
			if sinceSave++; sinceSave >= p.o.SaveEvery {
				if err := saveState(p.path, p.state); err != nil {
					return err
				}
				sinceSave = 0
			}
		}
	}
	mb, err := im.Store.MailboxByID(ctx, folder.Mailbox.ID)
	if err != nil {
		return err
	}
	st.LocalUIDNext = mb.UIDNext
	return saveState(p.path, p.state)
}

// list returns the messages above lastUID, in UID order, without bodies.
func (p *puller) list(lastUID uint32) ([]remoteMsg, error) {
	set := imap.UIDSet{{Start: imap.UID(lastUID + 1), Stop: 0}} // lastUID+1:*
	bufs, err := p.c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	var out []remoteMsg
	for _, b := range bufs {
		if uint32(b.UID) <= lastUID { // "n:*" includes the last message when n is above it
			continue
		}
		m := remoteMsg{uid: b.UID, size: b.RFC822Size, date: b.InternalDate}
		if b.Envelope != nil {
			m.msgID = b.Envelope.MessageID
		}
		for _, fl := range b.Flags {
			m.flags = append(m.flags, string(fl))
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out, nil
}

// bodies fetches the full content of a batch of messages.
func (p *puller) bodies(batch []remoteMsg) (map[imap.UID][]byte, error) {
	var set imap.UIDSet
	for _, m := range batch {
		set.AddNum(m.uid)
	}
	bufs, err := p.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch bodies: %w", err)
	}
	out := map[imap.UID][]byte{}
	for _, b := range bufs {
		if len(b.BodySection) > 0 {
			out[b.UID] = b.BodySection[0].Bytes
		}
	}
	return out, nil
}

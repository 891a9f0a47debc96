package pop3server

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/kantorpos/kantorpos/internal/store"
)

// memBackend is an in-memory Backend: one INBOX per account.
type memBackend struct {
	mu        sync.Mutex
	boxes     map[int64]*memBox // by account ID
	locks     map[int64]bool
	deletes   int // DeleteMessages calls
	failOpen  error
	failFetch error
	failDel   error
	openCount int
}

type memBox struct {
	mb   store.Mailbox
	msgs []memMsg
}

type memMsg struct {
	uid   uint32
	data  []byte
	flags []string
}

func newMemBackend() *memBackend {
	return &memBackend{boxes: map[int64]*memBox{}, locks: map[int64]bool{}}
}

// add appends a message to an account's INBOX and returns its UID.
func (b *memBackend) add(accountID int64, data string) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	box := b.box(accountID)
	uid := box.mb.UIDNext
	box.mb.UIDNext++
	box.msgs = append(box.msgs, memMsg{uid: uid, data: []byte(data)})
	return uid
}

func (b *memBackend) box(accountID int64) *memBox {
	box := b.boxes[accountID]
	if box == nil {
		box = &memBox{mb: store.Mailbox{ID: accountID * 100, AccountID: accountID, Name: store.Inbox, UIDValidity: 1700000000 + uint32(accountID), UIDNext: 1}}
		b.boxes[accountID] = box
	}
	return box
}

func (b *memBackend) uids(accountID int64) []uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var u []uint32
	for _, m := range b.box(accountID).msgs {
		u = append(u, m.uid)
	}
	return u
}

func (b *memBackend) flags(accountID int64, uid uint32) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.box(accountID).msgs {
		if m.uid == uid {
			return m.flags
		}
	}
	return nil
}

func (b *memBackend) boxByID(id int64) (*memBox, error) {
	for _, box := range b.boxes {
		if box.mb.ID == id {
			return box, nil
		}
	}
	return nil, store.ErrNotFound
}

func (b *memBackend) Mailbox(_ context.Context, accountID int64, name string) (store.Mailbox, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !strings.EqualFold(name, store.Inbox) {
		return store.Mailbox{}, store.ErrNotFound
	}
	return b.box(accountID).mb, nil
}

func (b *memBackend) FetchMessages(_ context.Context, mailboxID int64, uids store.UIDSet, _ store.FetchOptions) ([]store.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failFetch != nil {
		return nil, b.failFetch
	}
	box, err := b.boxByID(mailboxID)
	if err != nil {
		return nil, err
	}
	var out []store.Message
	for _, m := range box.msgs {
		if uids.Contains(m.uid) {
			out = append(out, store.Message{MailboxID: mailboxID, UID: m.uid, Size: int64(len(m.data)), Flags: slices.Clone(m.flags)})
		}
	}
	return out, nil
}

type memContent struct {
	*bytes.Reader
}

func (memContent) Close() error { return nil }

func (b *memBackend) OpenMessage(_ context.Context, m *store.Message) (store.Content, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openCount++
	if b.failOpen != nil {
		return nil, b.failOpen
	}
	box, err := b.boxByID(m.MailboxID)
	if err != nil {
		return nil, err
	}
	for _, mm := range box.msgs {
		if mm.uid == m.UID {
			return memContent{bytes.NewReader(mm.data)}, nil
		}
	}
	return nil, store.ErrNotFound
}

func (b *memBackend) UpdateFlags(_ context.Context, mailboxID int64, uids store.UIDSet, op store.FlagOp, flags []string) ([]store.MessageState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	box, err := b.boxByID(mailboxID)
	if err != nil {
		return nil, err
	}
	var changed []store.MessageState
	for i := range box.msgs {
		m := &box.msgs[i]
		if !uids.Contains(m.uid) || op != store.FlagsAdd {
			continue
		}
		for _, f := range flags {
			if !slices.Contains(m.flags, f) {
				m.flags = append(m.flags, f)
			}
		}
		changed = append(changed, store.MessageState{UID: m.uid, Flags: m.flags})
	}
	return changed, nil
}

func (b *memBackend) DeleteMessages(_ context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deletes++
	if b.failDel != nil {
		return nil, b.failDel
	}
	box, err := b.boxByID(mailboxID)
	if err != nil {
		return nil, err
	}
	var gone []uint32
	box.msgs = slices.DeleteFunc(box.msgs, func(m memMsg) bool {
		if slices.Contains(uids, m.uid) {
			gone = append(gone, m.uid)
			return true
		}
		return false
	})
	return gone, nil
}

func (b *memBackend) LockMaildrop(_ context.Context, accountID int64) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[accountID] {
		return nil, store.ErrLocked
	}
	b.locks[accountID] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.locks, accountID)
			b.mu.Unlock()
		})
	}, nil
}

func (b *memBackend) locked(accountID int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.locks[accountID]
}

func (b *memBackend) deleteCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deletes
}

package imapserver

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kantorpos/kantorpos/internal/store"
)

// hub keeps one shared view per mailbox that some session has selected,
// and feeds them all from ONE store subscription.
type hub struct {
	ctx     context.Context
	backend Backend
	log     *slog.Logger
	sub     *store.Subscription
	done    chan struct{}

	mu     sync.Mutex
	boxes  map[int64]*mailboxState
	recent map[int64]uint32 // \Recent claim marks of mailboxes not open (recent.go)
}

func newHub(ctx context.Context, b Backend, log *slog.Logger) *hub {
	h := &hub{ctx: ctx, backend: b, log: log, sub: b.Subscribe(), done: make(chan struct{}), boxes: map[int64]*mailboxState{}, recent: map[int64]uint32{}}
	h.sub.SetHook(h.apply)
	go h.run()
	return h
}

func (h *hub) close() {
	h.sub.Close()
	<-h.done
}

// run empties the subscription's channel: the notifications themselves
// are applied by the subscription's hook (apply), synchronously with the
// commit that made them, so that a command that starts after a commit
// (a delivery, another session's change) sees it.
func (h *hub) run() {
	defer close(h.done)
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.sub.C:
		}
	}
}

// apply routes a change notification to the mailbox it concerns. It only
// signals: each mailbox fetches what changed itself, so a lost or
// duplicated notification costs nothing. It runs under the broker's lock.
func (h *hub) apply(c store.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch c.Kind {
	case store.MessagesChanged, store.MailboxesChanged:
		if b := h.boxes[c.MailboxID]; b != nil {
			b.kick()
		}
	case store.Resync:
		for _, b := range h.boxes {
			b.kick()
		}
	}
}

// open returns the shared view of a mailbox, loading it if needed; the
// caller must release it.
func (h *hub) open(ctx context.Context, mailboxID int64) (*mailboxState, error) {
	h.mu.Lock()
	b := h.boxes[mailboxID]
	if b == nil {
		b = &mailboxState{id: mailboxID, hub: h, kickc: make(chan struct{}, 1), quit: make(chan struct{}), recentUpTo: h.recent[mailboxID]}
		h.boxes[mailboxID] = b
	}
	b.refs++
	h.mu.Unlock()
	b.loadOnce.Do(func() { b.loadErr = b.load(ctx) })
	if b.loadErr != nil {
		h.release(b)
		return nil, b.loadErr
	}
	return b, nil
}

func (h *hub) release(b *mailboxState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.refs--; b.refs == 0 {
		h.keepRecentMarkLocked(b)
		delete(h.boxes, b.id)
		close(b.quit)
	}
}

// mailboxState is the server's view of one mailbox: the UIDs in order and
// the sessions that have it selected (views). sync brings it up to date
// and queues, for every view, the updates its client has to be told.
type mailboxState struct {
	id    int64
	hub   *hub
	kickc chan struct{}
	quit  chan struct{}
	refs  int // guarded by hub.mu

	loadOnce sync.Once
	loadErr  error

	mu       sync.RWMutex
	uids     []uint32
	uidNext  uint32
	keywords map[string]string // lower case → as first seen
	gone     bool              // the mailbox was deleted
	views    map[*view]struct{}
	// changing marks UIDs whose flags a session is changing right now: a
	// sync that sees the change before that session does keeps the FETCH
	// FLAGS update from it (it tells its client itself).
	changing map[uint32]*view
	// recentUpTo is the \Recent claim mark: every UID above it is still
	// unclaimed (recent.go).
	recentUpTo uint32

	news   atomic.Bool // a notification came since the last sync began
	syncMu sync.Mutex  // one sync at a time
	modseq uint64      // guarded by syncMu: changes up to here are applied
}

func (b *mailboxState) load(ctx context.Context) error {
	// MODSEQ first: anything committed after it is re-reported by
	// Changes, and applying a change twice is harmless.
	mb, err := b.hub.backend.MailboxByID(ctx, b.id)
	if err != nil {
		return err
	}
	states, err := b.hub.backend.MessageStates(ctx, b.id)
	if err != nil {
		return err
	}
	b.modseq = mb.HighestModSeq
	b.uids = make([]uint32, len(states))
	b.keywords = map[string]string{}
	b.changing = map[uint32]*view{}
	b.views = map[*view]struct{}{}
	for i, st := range states {
		b.uids[i] = st.UID
		b.noteKeywords(st.Flags)
	}
	b.uidNext = mb.UIDNext
	if n := len(b.uids); n > 0 {
		b.uidNext = max(b.uidNext, b.uids[n-1]+1)
	}
	go b.loop()
	return nil
}

// kick notes that the mailbox changed and wakes its loop.
func (b *mailboxState) kick() {
	b.news.Store(true)
	select {
	case b.kickc <- struct{}{}:
	default:
	}
}

// loop applies changes as notifications arrive, so that IDLE sessions see
// them at once.
func (b *mailboxState) loop() {
	for {
		select {
		case <-b.quit:
			return
		case <-b.kickc:
			func() {
				defer func() {
					if v := recover(); v != nil {
						b.hub.log.Error("panic syncing mailbox", "mailbox", b.id, "panic", v, "stack", string(debug.Stack()))
					}
				}()
				if err := b.sync(b.hub.ctx, nil); err != nil && b.hub.ctx.Err() == nil {
					b.hub.log.Warn("mailbox sync", "mailbox", b.id, "err", err)
				}
			}()
		}
	}
}

// syncIfNews syncs only when the change broker reported a change since
// the last sync (issue 17 item 4): a session whose mailbox did not change
// costs the store nothing per command.
func (b *mailboxState) syncIfNews(ctx context.Context) error {
	b.syncMu.Lock() // a sync under way (the mailbox's loop) ends first
	defer b.syncMu.Unlock()
	if !b.news.Load() {
		return nil
	}
	return b.syncLocked(ctx, nil)
}

// own describes flag changes a session made itself: it already told its
// client, so the FETCH FLAGS update goes to the other sessions only.
type own struct {
	view  *view
	flags map[uint32]uint64 // UID → MODSEQ of the session's change
}

// sync brings the view up to date with the store and queues the updates
// for every session.
func (b *mailboxState) sync(ctx context.Context, o *own) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	return b.syncLocked(ctx, o)
}

func (b *mailboxState) syncLocked(ctx context.Context, o *own) error {
	b.news.Store(false) // a notification from now on asks again
	ch, err := b.hub.backend.Changes(ctx, b.id, b.modseq)
	if errors.Is(err, store.ErrNotFound) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.gone {
			// Deleted under us: every message is gone.
			for _, uid := range b.uids {
				b.queue(update{kind: updExpunge, uid: uid}, nil)
			}
			b.uids, b.gone = nil, true
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(ch.Updated) == 0 && len(ch.Expunged) == 0 {
		b.modseq = max(b.modseq, ch.HighestModSeq)
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	gone := map[uint32]bool{}
	for _, uid := range ch.Expunged {
		if _, ok := b.index(uid); ok {
			gone[uid] = true
			b.queue(update{kind: updExpunge, uid: uid}, nil)
		}
	}
	if len(gone) > 0 {
		b.uids = slices.DeleteFunc(b.uids, func(u uint32) bool { return gone[u] })
	}
	newKeywords := false
	for _, st := range ch.Updated {
		if b.noteKeywords(st.Flags) {
			newKeywords = true
		}
	}
	if newKeywords {
		// Before any FETCH that carries the new keyword.
		b.queue(update{kind: updMailboxFlags}, nil)
	}
	for _, st := range ch.Updated {
		if _, ok := b.index(st.UID); ok {
			skip := b.changing[st.UID]
			if o != nil && o.flags[st.UID] == st.ModSeq {
				skip = o.view
			}
			b.queue(update{kind: updFlags, uid: st.UID, flags: st.Flags}, skip)
			continue
		}
		if n := len(b.uids); n > 0 && st.UID < b.uids[n-1] {
			continue // older than our newest: cannot be new (UIDs ascend); already gone
		}
		b.uids = append(b.uids, st.UID)
		b.queueArrival(st.UID)
	}
	b.uidNext = max(b.uidNext, ch.UIDNext)
	b.modseq = max(b.modseq, ch.HighestModSeq)
	return nil
}

// queue adds an update for every view but skip and wakes those in IDLE;
// mu must be held.
func (b *mailboxState) queue(u update, skip *view) {
	for v := range b.views {
		if v == skip {
			continue
		}
		v.pending = append(v.pending, u)
		select {
		case v.notify <- struct{}{}:
		default:
		}
	}
}

// index finds a UID's position in the view; mu must be held.
func (b *mailboxState) index(uid uint32) (int, bool) {
	return slices.BinarySearch(b.uids, uid)
}

// noteKeywords records keywords in use; it reports whether one is new.
func (b *mailboxState) noteKeywords(flags []string) bool {
	added := false
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) || len(b.keywords) >= 256 {
			continue
		}
		if _, ok := b.keywords[strings.ToLower(f)]; !ok {
			b.keywords[strings.ToLower(f)] = f
			added = true
		}
	}
	return added
}

var systemFlags = []string{store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagSeen, store.FlagDraft}

// flagsLocked is the FLAGS list of the mailbox; mu must be held.
func (b *mailboxState) flagsLocked() []string {
	out := slices.Clone(systemFlags)
	var kw []string
	for _, k := range b.keywords {
		kw = append(kw, k)
	}
	sort.Strings(kw)
	return append(out, kw...)
}

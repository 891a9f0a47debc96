package pop3server

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/store"
)

// maildrop is the snapshot of an INBOX a session works on: the messages
// present at login, numbered from 1 (RFC 1939 4). Mail arriving later is
// not seen until the next session.
type maildrop struct {
	accountID int64
	mailbox   store.Mailbox
	msgs      []dropMsg
	release   func()
}

type dropMsg struct {
	msg       store.Message
	deleted   bool // DELE; removed only at QUIT
	retrieved bool // RETR; marked \Seen at QUIT
}

// openMaildrop locks the account's maildrop and takes its snapshot. It
// fails with store.ErrLocked when another session holds the lock.
func openMaildrop(ctx context.Context, b Backend, id auth.Identity) (*maildrop, error) {
	release, err := b.LockMaildrop(ctx, id.AccountID)
	if err != nil {
		return nil, fmt.Errorf("pop3: lock maildrop: %w", err)
	}
	d := &maildrop{accountID: id.AccountID, release: release}
	if d.mailbox, err = b.Mailbox(ctx, id.AccountID, store.Inbox); err != nil {
		d.close()
		return nil, fmt.Errorf("pop3: inbox: %w", err)
	}
	msgs, err := b.FetchMessages(ctx, d.mailbox.ID, store.AllUIDs, store.FetchOptions{})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("pop3: list inbox: %w", err)
	}
	d.msgs = make([]dropMsg, len(msgs))
	for i := range msgs {
		d.msgs[i].msg = msgs[i]
	}
	return d, nil
}

// close releases the lock.
func (d *maildrop) close() {
	if d.release != nil {
		d.release()
		d.release = nil
	}
}

// stat counts the messages not marked deleted and their octets.
func (d *maildrop) stat() (n int, size int64) {
	for i := range d.msgs {
		if !d.msgs[i].deleted {
			n++
			size += d.msgs[i].msg.Size
		}
	}
	return n, size
}

func (d *maildrop) countDeleted() int {
	n := 0
	for i := range d.msgs {
		if d.msgs[i].deleted {
			n++
		}
	}
	return n
}

// message finds message number arg (1-based). Messages marked deleted
// cannot be referred to (RFC 1939 5).
func (d *maildrop) message(arg string) (int, *dropMsg, error) {
	n, ok := parseNumber(arg)
	if !ok || n < 1 || n > len(d.msgs) {
		return 0, nil, &respError{Text: "No such message"}
	}
	m := &d.msgs[n-1]
	if m.deleted {
		return 0, nil, &respError{Text: "Message already deleted"}
	}
	return n, m, nil
}

// uidl is the unique-id of a message (RFC 1939 7): its UID then the
// mailbox's UIDVALIDITY in hex, stable across sessions and restarts.
func (d *maildrop) uidl(m *dropMsg) string {
	return fmt.Sprintf("%08X%08X", m.msg.UID, d.mailbox.UIDValidity)
}

// deletedUIDs lists the messages to remove at QUIT.
func (d *maildrop) deletedUIDs() []uint32 {
	var uids []uint32
	for i := range d.msgs {
		if d.msgs[i].deleted {
			uids = append(uids, d.msgs[i].msg.UID)
		}
	}
	return uids
}

// seenUIDs lists the messages retrieved and kept, to mark \Seen at QUIT.
func (d *maildrop) seenUIDs() store.UIDSet {
	var set store.UIDSet
	for i := range d.msgs {
		m := &d.msgs[i]
		if !m.retrieved || m.deleted {
			continue
		}
		if n := len(set); n > 0 && set[n-1].Stop+1 == m.msg.UID {
			set[n-1].Stop = m.msg.UID
		} else {
			set = append(set, store.UIDRange{Start: m.msg.UID, Stop: m.msg.UID})
		}
	}
	return set
}

// parseNumber parses a decimal argument: digits only, no sign. Values
// past 999999999 (TOP 1 9999999999) are clamped: no maildrop is that big.
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 40 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	if len(strings.TrimLeft(s, "0")) > 9 {
		return 999999999, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

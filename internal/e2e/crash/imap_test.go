package crash

import (
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// snapshot is an INBOX as IMAP shows it: UIDVALIDITY, UIDNEXT and every
// UID's Message-ID.
type snapshot struct {
	validity uint32
	uidNext  uint32
	ids      map[uint32]string
}

func imapLogin(addr, user string) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// takeSnapshot reads user's INBOX.
func takeSnapshot(addr, user string) (*snapshot, error) {
	c, err := imapLogin(addr, user)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	s := &snapshot{validity: sel.UIDValidity, uidNext: uint32(sel.UIDNext), ids: map[uint32]string{}}
	if sel.NumMessages == 0 {
		return s, nil
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		h := string(m.FindBodySection(section))
		_, v, _ := strings.Cut(h, ":")
		s.ids[uint32(m.UID)] = strings.TrimSpace(v)
	}
	return s, nil
}

// compare checks that after is a later state of before: same UIDVALIDITY,
// UIDNEXT not lower, and every UID still names the same message (these
// mailboxes never lose messages).
func compare(user string, before, after *snapshot) []string {
	var errs []string
	if before.validity != after.validity {
		errs = append(errs, fmt.Sprintf("%s: UIDVALIDITY changed %d -> %d", user, before.validity, after.validity))
	}
	if after.uidNext < before.uidNext {
		errs = append(errs, fmt.Sprintf("%s: UIDNEXT went back %d -> %d", user, before.uidNext, after.uidNext))
	}
	for uid, id := range before.ids {
		if got, ok := after.ids[uid]; !ok {
			errs = append(errs, fmt.Sprintf("%s: UID %d (%s) is gone", user, uid, id))
		} else if got != id {
			errs = append(errs, fmt.Sprintf("%s: UID %d was %s, is now %s (UID reused)", user, uid, id, got))
		}
		if uid >= after.uidNext {
			errs = append(errs, fmt.Sprintf("%s: UID %d exists but UIDNEXT is %d", user, uid, after.uidNext))
		}
	}
	return errs
}

// fetchAll returns every message of user's INBOX by UID.
func fetchAll(addr, user string) (map[uint32][]byte, error) {
	c, err := imapLogin(addr, user)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	out := map[uint32][]byte{}
	if sel.NumMessages == 0 {
		return out, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		out[uint32(m.UID)] = m.FindBodySection(section)
	}
	return out, nil
}

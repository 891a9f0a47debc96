package imapserver

import (
	"slices"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/store"
)

func cmdSearch(s *session, tag string) error    { return s.search(tag, false) }
func cmdUIDSearch(s *session, tag string) error { return s.search(tag, true) }

// search runs SEARCH [RETURN (...)] [CHARSET x] keys (RFC 9051 §6.4.4,
// ESEARCH RFC 4731, SEARCHRES RFC 5182). The criteria run in the store
// (SQL and its full-text index for BODY and TEXT); sequence numbers and UID
// sets are turned into UIDs through this session's view first.
func (s *session) search(tag string, byUID bool) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	var ret []string
	esearch := s.rev2
	if s.r.PeekAtomFold("RETURN") {
		s.r.Atom()
		if err := s.r.SP(); err != nil {
			return err
		}
		if err := s.r.List(0, func() error {
			o, err := s.r.Atom()
			o = strings.ToUpper(o)
			switch o {
			case "MIN", "MAX", "ALL", "COUNT", "SAVE":
				ret = append(ret, o)
			default:
				if err == nil {
					err = bad("Unknown SEARCH return option")
				}
			}
			return err
		}); err != nil {
			return err
		}
		if len(ret) == 0 {
			ret = []string{"ALL"} // RETURN () is RETURN (ALL) (RFC 4731 §3.1)
		}
		esearch = true
		if err := s.r.SP(); err != nil {
			return err
		}
	}
	if s.r.PeekAtomFold("CHARSET") {
		s.r.Atom()
		if err := s.r.SP(); err != nil {
			return err
		}
		cs, err := s.r.AString()
		if err != nil {
			return err
		}
		if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
			return no("BADCHARSET", "Only UTF-8 is supported")
		}
		if err := s.r.SP(); err != nil {
			return err
		}
	}
	keys, err := s.r.SearchKeys()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	c := &store.SearchCriteria{}
	for _, k := range keys {
		if err := s.addKey(c, k, byUID); err != nil {
			return err
		}
	}
	uids, err := s.srv.backend.Search(s.ctx, s.sel.mb.ID, c)
	if err != nil {
		return s.storeErr("search", err)
	}
	v := s.sel.view
	var nums, saved []uint32
	v.box.mu.RLock()
	for _, uid := range uids {
		seq := v.seqOf(uid)
		if seq == 0 {
			continue // the client has not been told of it yet
		}
		saved = append(saved, uid)
		if byUID {
			nums = append(nums, uid)
		} else {
			nums = append(nums, seq)
		}
	}
	v.box.mu.RUnlock()
	slices.Sort(nums)
	if slices.Contains(ret, "SAVE") {
		s.sel.searchRes = saved
		if len(ret) == 1 {
			return nil // SAVE alone: no ESEARCH (RFC 5182 §2.4)
		}
	}
	if !esearch {
		s.w.Raw("* SEARCH")
		for _, n := range nums {
			s.w.SP().Number(uint64(n))
		}
		s.w.CRLF()
		return nil
	}
	if ret == nil {
		ret = []string{"ALL"}
	}
	s.w.Raw("* ESEARCH (TAG ").String(tag).Byte(')')
	if byUID {
		s.w.Raw(" UID")
	}
	if len(nums) > 0 {
		if slices.Contains(ret, "MIN") {
			s.w.Raw(" MIN ").Number(uint64(nums[0]))
		}
		if slices.Contains(ret, "MAX") {
			s.w.Raw(" MAX ").Number(uint64(nums[len(nums)-1]))
		}
		if slices.Contains(ret, "ALL") {
			s.w.Raw(" ALL ").Raw(imapwire.FormatNumSet(nums))
		}
	}
	if slices.Contains(ret, "COUNT") {
		s.w.Raw(" COUNT ").Number(uint64(len(nums)))
	}
	s.w.CRLF()
	return nil
}

// addKey adds one search key to c (keys are ANDed).
func (s *session) addKey(c *store.SearchCriteria, k imapwire.SearchKey, byUID bool) error {
	loc := s.srv.cfg.Location
	switch k.Key {
	case "ALL":
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		c.Flags = append(c.Flags, canonicalFlag(`\`+k.Key))
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		c.NotFlags = append(c.NotFlags, canonicalFlag(`\`+k.Key[2:]))
	case "NEW", "RECENT":
		// \Recent is this session's (recent.go); NEW is RECENT UNSEEN.
		got := s.sel.view.recentUIDs()
		if c.UIDs == nil {
			c.UIDs = uidSetOf(got)
		} else {
			c.UIDs = uidSetOf(intersect(expand(c.UIDs), got))
		}
		if k.Key == "NEW" {
			c.NotFlags = append(c.NotFlags, store.FlagSeen)
		}
	case "OLD":
		c.Not = append(c.Not, store.SearchCriteria{UIDs: uidSetOf(s.sel.view.recentUIDs())})
	case "KEYWORD":
		c.Flags = append(c.Flags, canonicalFlag(k.Str))
	case "UNKEYWORD":
		c.NotFlags = append(c.NotFlags, canonicalFlag(k.Str))
	case "BCC", "CC", "FROM", "TO", "SUBJECT":
		c.Header = append(c.Header, store.HeaderMatch{Field: headerName(k.Key), Value: k.Str})
	case "HEADER":
		c.Header = append(c.Header, store.HeaderMatch{Field: k.Str, Value: k.Value})
	case "BODY":
		c.Body = append(c.Body, k.Str)
	case "TEXT":
		c.Text = append(c.Text, k.Str)
	case "BEFORE":
		c.Before = earliest(c.Before, day(k.Date, loc))
	case "SINCE":
		c.Since = latest(c.Since, day(k.Date, loc))
	case "ON":
		c.Since = latest(c.Since, day(k.Date, loc))
		c.Before = earliest(c.Before, day(k.Date, loc).AddDate(0, 0, 1))
	// SENT* compare the Date header's date in its own zone (RFC 9051
	// §6.4.4), which the store keeps labelled UTC.
	case "SENTBEFORE":
		c.SentBefore = earliest(c.SentBefore, day(k.Date, time.UTC))
	case "SENTSINCE":
		c.SentSince = latest(c.SentSince, day(k.Date, time.UTC))
	case "SENTON":
		c.SentSince = latest(c.SentSince, day(k.Date, time.UTC))
		c.SentBefore = earliest(c.SentBefore, day(k.Date, time.UTC).AddDate(0, 0, 1))
	case "LARGER":
		c.Larger = max(c.Larger, k.Num)
	case "SMALLER":
		if c.Smaller == 0 || k.Num < c.Smaller {
			c.Smaller = k.Num
		}
	case "MODSEQ":
		c.ModSeq = max(c.ModSeq, uint64(k.Num))
	case "UID", "SEQ":
		got := refUIDs(s.resolve(k.Set, k.Key == "UID"))
		if c.UIDs == nil {
			c.UIDs = uidSetOf(got)
		} else {
			c.UIDs = uidSetOf(intersect(expand(c.UIDs), got))
		}
	case "AND":
		for _, sub := range k.Sub {
			if err := s.addKey(c, sub, byUID); err != nil {
				return err
			}
		}
	case "NOT":
		var n store.SearchCriteria
		if err := s.addKey(&n, k.Sub[0], byUID); err != nil {
			return err
		}
		c.Not = append(c.Not, n)
	case "OR":
		var a, b store.SearchCriteria
		if err := s.addKey(&a, k.Sub[0], byUID); err != nil {
			return err
		}
		if err := s.addKey(&b, k.Sub[1], byUID); err != nil {
			return err
		}
		c.Or = append(c.Or, [2]store.SearchCriteria{a, b})
	default:
		return bad("Unsupported search key " + k.Key)
	}
	return nil
}

func headerName(key string) string {
	switch key {
	case "BCC":
		return "Bcc"
	case "CC":
		return "Cc"
	case "FROM":
		return "From"
	case "TO":
		return "To"
	}
	return "Subject"
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

// expand lists the UIDs of a set (made from a view, so bounded by it).
func expand(set store.UIDSet) []uint32 {
	var out []uint32
	for _, r := range set {
		for u := r.Start; u <= r.Stop && u != 0; u++ {
			out = append(out, u)
			if u == r.Stop {
				break
			}
		}
	}
	return out
}

// day turns an IMAP date (midnight UTC of that date) into the start of
// that day in loc: dates disregard time and time zone (RFC 9051 §6.4.4),
// so we compare against local days.
func day(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// intersect returns the UIDs in both ascending lists.
func intersect(a, b []uint32) []uint32 {
	var out []uint32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

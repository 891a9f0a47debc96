package imapserver

import (
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kantorpos/kantorpos/internal/store"
)

// maxSearchDepth bounds NOT/OR nesting.
const maxSearchDepth = 32

var searchTooComplex = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeLimit, Text: "Search too complex"}

// Search implements imapserver.Session: the criteria run in the store (SQL
// and its full-text index for BODY and TEXT); sequence numbers and UID sets
// are turned into UIDs through this session's view first. ESEARCH
// (MIN/MAX/COUNT/ALL) and SEARCHRES (SAVE, $) are supported.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, opts *imap.SearchOptions) (*imap.SearchData, error) {
	defer s.enter()()
	c, err := s.searchCriteria(criteria, 0)
	if err != nil {
		return nil, err
	}
	uids, err := s.srv.backend.Search(s.ctx, s.sel.mb.ID, c)
	if err != nil {
		return nil, s.storeErr("search", err)
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uidSet imap.UIDSet
	var saved []uint32
	box := s.sel.box
	box.mu.RLock()
	for _, uid := range uids {
		i, ok := box.index(uid)
		if !ok {
			continue
		}
		seq := s.sel.tracker.EncodeSeqNum(uint32(i + 1))
		if seq == 0 {
			continue // the client has not been told of it yet
		}
		saved = append(saved, uid)
		num := seq
		if kind == imapserver.NumKindUID {
			num = uid
			uidSet.AddNum(imap.UID(uid))
		} else {
			seqs.AddNum(seq)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	box.mu.RUnlock()
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqs
	}
	if opts.ReturnSave {
		s.sel.searchRes = saved
	}
	return data, nil
}

// searchCriteria translates IMAP search keys into a store query.
func (s *session) searchCriteria(in *imap.SearchCriteria, depth int) (*store.SearchCriteria, error) {
	if depth > maxSearchDepth {
		return nil, searchTooComplex
	}
	out := &store.SearchCriteria{
		Flags:    flagNames(in.Flag),
		NotFlags: flagNames(in.NotFlag),
		Body:     in.Body,
		Text:     in.Text,
		Larger:   in.Larger,
		Smaller:  in.Smaller,
	}
	// Message sets: each narrows the UIDs (AND).
	var uids []uint32
	restricted := false
	narrow := func(refs []msgRef) {
		got := refUIDs(refs)
		if !restricted {
			uids, restricted = got, true
			return
		}
		uids = intersect(uids, got)
	}
	for _, set := range in.SeqNum {
		narrow(s.resolve(set))
	}
	for _, set := range in.UID {
		narrow(s.resolve(set))
	}
	if restricted {
		out.UIDs = uidSetOf(uids)
	}
	loc := s.srv.cfg.Location
	out.Since, out.Before = day(in.Since, loc), day(in.Before, loc)
	out.SentSince, out.SentBefore = day(in.SentSince, loc), day(in.SentBefore, loc)
	for _, h := range in.Header {
		out.Header = append(out.Header, store.HeaderMatch{Field: h.Key, Value: h.Value})
	}
	if in.ModSeq != nil {
		out.ModSeq = in.ModSeq.ModSeq
	}
	for i := range in.Not {
		c, err := s.searchCriteria(&in.Not[i], depth+1)
		if err != nil {
			return nil, err
		}
		out.Not = append(out.Not, *c)
	}
	for i := range in.Or {
		a, err := s.searchCriteria(&in.Or[i][0], depth+1)
		if err != nil {
			return nil, err
		}
		b, err := s.searchCriteria(&in.Or[i][1], depth+1)
		if err != nil {
			return nil, err
		}
		out.Or = append(out.Or, [2]store.SearchCriteria{*a, *b})
	}
	return out, nil
}

// day turns an IMAP date (the wire library gives midnight UTC of that
// date) into the start of that day in loc: dates disregard time and
// time zone (RFC 9051 6.4.4), so we compare against local days.
func day(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func flagNames(flags []imap.Flag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, canonicalFlag(string(f)))
	}
	return out
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

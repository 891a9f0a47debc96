package storetest

import (
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

// testDateRange: any date an IMAP client may send (years 1 to 9999, RFC
// 9051 date-year) is kept as the internal date, to the second, and a sent
// date of any year too; SINCE/BEFORE compare them.
func testDateRange(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "dates@example.test")
	inbox := mailbox(t, e, a.ID, "INBOX")
	dates := []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	for _, d := range dates {
		meta := Meta("dated", "text")
		meta.Date = d
		_, err := s.Append(ctx, inbox.ID, store.NewMessage{Blob: PutBlob(t, e.Blobs, Msg("dated", d.String())), Meta: meta, InternalDate: d})
		must(t, err)
	}
	msgs, err := s.FetchMessages(ctx, inbox.ID, store.AllUIDs, store.FetchOptions{Meta: true})
	must(t, err)
	if len(msgs) != len(dates) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, m := range msgs {
		// A sent date of exactly 1970-01-01 00:00:00 UTC reads as absent.
		sentOK := m.Meta.Date.Equal(dates[i]) || i == 0 && m.Meta.Date.IsZero()
		if !m.InternalDate.Equal(dates[i]) || !sentOK {
			t.Errorf("message %d: internal date %v, sent date %v, want %v", i+1, m.InternalDate, m.Meta.Date, dates[i])
		}
	}
	before := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		crit store.SearchCriteria
		want []uint32
	}{
		{store.SearchCriteria{Before: before}, []uint32{3, 4}},
		{store.SearchCriteria{Since: before}, []uint32{1, 2}},
		{store.SearchCriteria{SentSince: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{2}},
	} {
		got, err := s.Search(ctx, inbox.ID, &c.crit)
		must(t, err)
		if !equalUIDs(got, c.want) {
			t.Errorf("search %+v = %v, want %v", c.crit, got, c.want)
		}
	}
}

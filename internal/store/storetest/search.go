package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/store"
)

func testSearch(t *testing.T, e Env) {
	s := e.Store
	a := account(t, e, "u@example.test")
	mb := mailbox(t, e, a.ID, "INBOX")
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	msgs := []struct {
		subject, from, body string
		header              string
		date                time.Time
		flags               []string
		size                int
	}{
		{"Quarterly report", "Alice <alice@ext.test>", "the numbers are attached", "X-Mailer: Thunderbird\r\n", day(1), []string{`\Seen`}, 100},
		{"Lunch!", "Bob <bob@ext.test>", "pizza or sushi? Überraschung", "X-Priority: 1\r\n", day(5), []string{`\Flagged`, "$Work"}, 2000},
		{"=?UTF-8?Q?Caf=C3=A9_plans?=", "Chloé <chloe@ext.test>", "coffee tomorrow", "", day(10), nil, 500},
		{"Re: Quarterly report", "Alice <alice@ext.test>", "numbers look fine", "", day(15), []string{`\Seen`, `\Answered`}, 300},
	}
	for i, m := range msgs {
		raw := fmt.Sprintf("From: %s\r\nSubject: %s\r\n%s\r\n%s%s\r\n", m.from, m.subject, m.header, m.body, pad(m.size))
		meta := &store.MessageMeta{Subject: m.subject, From: m.from, Date: m.date.Add(-time.Hour),
			Header: "From: " + m.from + "\r\nSubject: " + m.subject + "\r\n" + m.header, Text: m.body}
		if i == 2 {
			meta.Subject = "Café plans"
		}
		_, err := s.Append(ctx, mb.ID, store.NewMessage{Blob: PutBlob(t, e.Blobs, raw), Meta: meta, Flags: m.flags, InternalDate: m.date})
		must(t, err)
	}
	tests := []struct {
		name string
		c    store.SearchCriteria
		want []uint32
	}{
		{"all", store.SearchCriteria{}, []uint32{1, 2, 3, 4}},
		{"uid set", store.SearchCriteria{UIDs: store.UIDSet{{Start: 2, Stop: 3}}}, []uint32{2, 3}},
		{"seen", store.SearchCriteria{Flags: []string{`\Seen`}}, []uint32{1, 4}},
		{"unseen", store.SearchCriteria{NotFlags: []string{`\Seen`}}, []uint32{2, 3}},
		{"keyword", store.SearchCriteria{Flags: []string{"$work"}}, []uint32{2}},
		{"unkeyword", store.SearchCriteria{NotFlags: []string{"$Work"}}, []uint32{1, 3, 4}},
		{"recent", store.SearchCriteria{Flags: []string{`\Recent`}}, nil},
		{"since", store.SearchCriteria{Since: day(5)}, []uint32{2, 3, 4}},
		{"before", store.SearchCriteria{Before: day(5)}, []uint32{1}},
		{"sentbefore", store.SearchCriteria{SentBefore: day(5)}, []uint32{1, 2}},
		{"larger", store.SearchCriteria{Larger: 1000}, []uint32{2}},
		{"smaller", store.SearchCriteria{Smaller: 400}, []uint32{1, 4}},
		{"subject", store.SearchCriteria{Header: []store.HeaderMatch{{Field: "Subject", Value: "QUARTERLY"}}}, []uint32{1, 4}},
		{"subject utf8", store.SearchCriteria{Header: []store.HeaderMatch{{Field: "subject", Value: "café"}}}, []uint32{3}},
		{"from", store.SearchCriteria{Header: []store.HeaderMatch{{Field: "From", Value: "alice@"}}}, []uint32{1, 4}},
		{"from unicode case", store.SearchCriteria{Header: []store.HeaderMatch{{Field: "From", Value: "CHLOÉ"}}}, []uint32{3}},
		{"other header", store.SearchCriteria{Header: []store.HeaderMatch{{Field: "X-Mailer", Value: "thunder"}}}, []uint32{1}},
		{"header present", store.SearchCriteria{Header: []store.HeaderMatch{{Field: "X-Priority"}}}, []uint32{2}},
		{"body", store.SearchCriteria{Body: []string{"numbers"}}, []uint32{1, 4}},
		{"body word prefix", store.SearchCriteria{Body: []string{"sush"}}, []uint32{2}},
		{"body diacritics", store.SearchCriteria{Body: []string{"uberraschung"}}, []uint32{2}},
		{"body not header", store.SearchCriteria{Body: []string{"quarterly"}}, nil},
		{"text", store.SearchCriteria{Text: []string{"quarterly"}}, []uint32{1, 4}},
		{"text two words", store.SearchCriteria{Text: []string{"numbers fine"}}, []uint32{4}},
		{"text punctuation", store.SearchCriteria{Text: []string{"!"}}, []uint32{2}},
		{"not", store.SearchCriteria{Not: []store.SearchCriteria{{Flags: []string{`\Seen`}}}}, []uint32{2, 3}},
		{"or", store.SearchCriteria{Or: [][2]store.SearchCriteria{{{Flags: []string{`\Flagged`}}, {Body: []string{"coffee"}}}}}, []uint32{2, 3}},
		{"and", store.SearchCriteria{Flags: []string{`\Seen`}, Body: []string{"fine"}}, []uint32{4}},
		{"not uid in or", store.SearchCriteria{Or: [][2]store.SearchCriteria{{{UIDs: store.UIDSet{{Start: 1, Stop: 1}}}, {Not: []store.SearchCriteria{{UIDs: store.UIDSet{{Start: 1, Stop: 3}}}}}}}}, []uint32{1, 4}},
		{"nothing", store.SearchCriteria{Body: []string{"zebra"}}, nil},
		{"empty uid set", store.SearchCriteria{UIDs: store.UIDSet{}}, nil},
	}
	for _, tt := range tests {
		got, err := s.Search(ctx, mb.ID, &tt.c)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !equalUIDs(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	s.UpdateFlags(ctx, mb.ID, store.UIDSet{{Start: 3, Stop: 3}}, store.FlagsAdd, []string{`\Seen`})
	mod := mailbox(t, e, a.ID, "INBOX").HighestModSeq
	if got, _ := s.Search(ctx, mb.ID, &store.SearchCriteria{ModSeq: mod}); !equalUIDs(got, []uint32{3}) {
		t.Errorf("modseq: %v", got)
	}
}

func pad(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = ' '
	}
	return string(b)
}

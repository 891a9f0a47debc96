package store

import "time"

// SearchCriteria is a protocol-neutral search (the IMAP SEARCH keys). All
// set fields must match (AND). Sequence numbers are translated to UIDs by
// the caller. Times are exact instants: the caller turns IMAP dates into
// day boundaries in the right time zone.
type SearchCriteria struct {
	UIDs UIDSet // nil = any

	Flags    []string // must have all
	NotFlags []string // must have none

	Since, Before time.Time // internal date: >= Since, < Before
	// SentSince, SentBefore compare MessageMeta.Date (the Date header as
	// written, labelled UTC), so they are midnight UTC of the IMAP date; a
	// message without a Date header is compared by its internal date.
	SentSince, SentBefore time.Time

	Larger, Smaller int64 // size > Larger, size < Smaller; 0 = unset

	Header []HeaderMatch
	Body   []string // substrings of the body (full-text index)
	Text   []string // substrings of header or body

	ModSeq uint64 // MODSEQ >= this; 0 = unset

	Not []SearchCriteria
	Or  [][2]SearchCriteria
}

// HeaderMatch matches a header field whose value contains Value
// (case-insensitively); an empty Value matches any message that has the field.
type HeaderMatch struct {
	Field string
	Value string
}

package imapwire

import (
	"strings"
	"time"
)

// SearchKey is one search key (RFC 9051 §6.4.4) as parsed: Key is the
// upper-case keyword, "SEQ" for a bare sequence set and "AND" for a
// parenthesised list; Sub holds the operands of NOT (1), OR (2) and AND.
type SearchKey struct {
	Key   string
	Str   string // string argument (FROM, BODY, KEYWORD, HEADER's field...)
	Value string // HEADER's value
	Date  time.Time
	Num   int64 // LARGER, SMALLER, MODSEQ
	Set   SeqSet
	Sub   []SearchKey
}

// MaxSearchKeys bounds the keys of one SEARCH.
const MaxSearchKeys = 1000

// SearchKeys reads search keys until the end of the command (they are
// ANDed). depth bounds NOT/OR/list nesting through Limits.MaxDepth.
func (r *Reader) SearchKeys() ([]SearchKey, error) {
	count := 0
	var out []SearchKey
	for {
		k, err := r.searchKey(0, &count)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
		if r.atEnd() {
			return out, nil
		}
		if err := r.SP(); err != nil {
			return nil, err
		}
	}
}

func (r *Reader) searchKey(depth int, count *int) (SearchKey, error) {
	if *count++; *count > MaxSearchKeys {
		return SearchKey{}, &Error{Status: "BAD", Code: "LIMIT", Text: "Too many search keys"}
	}
	if depth >= r.lim.MaxDepth {
		return SearchKey{}, &Error{Status: "BAD", Code: "LIMIT", Text: "Search too complex"}
	}
	c := r.peek()
	if c == '(' {
		k := SearchKey{Key: "AND"}
		r.pos++
		for {
			sub, err := r.searchKey(depth+1, count)
			if err != nil {
				return k, err
			}
			k.Sub = append(k.Sub, sub)
			if r.TryByte(')') {
				return k, nil
			}
			if err := r.SP(); err != nil {
				return k, err
			}
		}
	}
	if c == '*' || c == '$' || (c >= '0' && c <= '9') {
		set, err := r.SeqSet()
		return SearchKey{Key: "SEQ", Set: set}, err
	}
	word, err := r.Atom()
	if err != nil {
		return SearchKey{}, Bad("Expected a search key")
	}
	k := SearchKey{Key: strings.ToUpper(word)}
	arg := func() error { return r.SP() }
	switch k.Key {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		if err := arg(); err != nil {
			return k, err
		}
		k.Str, err = r.AString()
	case "KEYWORD", "UNKEYWORD":
		if err := arg(); err != nil {
			return k, err
		}
		k.Str, err = r.Flag()
	case "HEADER":
		if err := arg(); err != nil {
			return k, err
		}
		if k.Str, err = r.AString(); err != nil {
			return k, err
		}
		if err := arg(); err != nil {
			return k, err
		}
		k.Value, err = r.AString()
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		if err := arg(); err != nil {
			return k, err
		}
		k.Date, err = r.Date()
	case "LARGER", "SMALLER", "MODSEQ":
		if err := arg(); err != nil {
			return k, err
		}
		k.Num, err = r.Number64()
	case "UID":
		if err := arg(); err != nil {
			return k, err
		}
		k.Set, err = r.SeqSet()
	case "NOT":
		if err := arg(); err != nil {
			return k, err
		}
		sub, err := r.searchKey(depth+1, count)
		k.Sub = []SearchKey{sub}
		return k, err
	case "OR":
		for i := 0; i < 2; i++ {
			if err := arg(); err != nil {
				return k, err
			}
			sub, err := r.searchKey(depth+1, count)
			k.Sub = append(k.Sub, sub)
			if err != nil {
				return k, err
			}
		}
	default:
		return k, Bad("Unknown search key %q", clip([]byte(word)))
	}
	return k, err
}

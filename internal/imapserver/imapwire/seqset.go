package imapwire

import (
	"strconv"
	"strings"
	"time"
)

// SeqRange is a range of a sequence set; 0 stands for "*" (the largest
// number in use). Start and Stop may come in either order.
type SeqRange struct{ Start, Stop uint32 }

// SeqSet is a sequence-set (RFC 9051 §9) or "$", the saved search result
// (SEARCHRES, RFC 5182).
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool // "$"
}

// maxSeqRanges bounds the ranges of one set.
const maxSeqRanges = 100000

// SeqSet reads a sequence set or "$".
func (r *Reader) SeqSet() (SeqSet, error) {
	if r.TryByte('$') {
		return SeqSet{Saved: true}, nil
	}
	var set SeqSet
	for {
		a, err := r.seqNumber()
		if err != nil {
			return set, err
		}
		b := a
		if r.TryByte(':') {
			if b, err = r.seqNumber(); err != nil {
				return set, err
			}
		}
		if len(set.Ranges) >= maxSeqRanges {
			return set, &Error{Status: "BAD", Code: "LIMIT", Text: "Sequence set too long"}
		}
		set.Ranges = append(set.Ranges, SeqRange{a, b})
		if !r.TryByte(',') {
			return set, nil
		}
	}
}

// seqNumber reads nz-number or "*" (0).
func (r *Reader) seqNumber() (uint32, error) {
	if r.TryByte('*') {
		return 0, nil
	}
	n, err := r.Number()
	if err != nil {
		return 0, Bad("Invalid sequence set")
	}
	if n == 0 {
		return 0, Bad("Invalid sequence set: 0")
	}
	return n, nil
}

// String formats the set.
func (s SeqSet) String() string {
	if s.Saved {
		return "$"
	}
	var b strings.Builder
	num := func(n uint32) {
		if n == 0 {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, rg := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		num(rg.Start)
		if rg.Stop != rg.Start {
			b.WriteByte(':')
			num(rg.Stop)
		}
	}
	return b.String()
}

// FormatNumSet formats ascending numbers as a compact sequence set
// ("1:3,7"), "" for none.
func FormatNumSet(nums []uint32) string {
	var b []byte
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(nums[i]), 10)
		if j > i {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

var months = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// Date reads a date, d-Mon-yyyy, quoted or not (RFC 9051 §9 date). A date
// that does not exist (30-Feb-2020) is BAD.
func (r *Reader) Date() (time.Time, error) {
	quoted := r.TryByte('"')
	s := r.atomWith(func(c byte) bool { return c == '-' || isAlnum(c) })
	if quoted && !r.TryByte('"') {
		return time.Time{}, Bad("Invalid date")
	}
	y, m, d, ok := parseDate(s)
	if !ok {
		return time.Time{}, Bad("Invalid date %q", s)
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// parseDate parses d-Mon-yyyy (day one or two digits, or space-padded in
// date-time) and checks that the day exists.
func parseDate(s string) (int, time.Month, int, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) < 1 || len(parts[0]) > 2 || len(parts[2]) != 4 {
		return 0, 0, 0, false
	}
	d, err1 := strconv.Atoi(strings.TrimLeft(parts[0], " "))
	y, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || parts[2][0] == '+' || parts[2][0] == '-' {
		return 0, 0, 0, false
	}
	var m time.Month
	for i, name := range months {
		if strings.EqualFold(parts[1], name) {
			m = time.Month(i + 1)
		}
	}
	if m == 0 || d < 1 || d > 31 || y < 1 {
		return 0, 0, 0, false
	}
	if time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Day() != d {
		return 0, 0, 0, false // 30-Feb
	}
	return y, m, d, true
}

// DateTime reads a date-time, "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 9051 §9),
// always quoted. Invalid dates and times are BAD.
func (r *Reader) DateTime() (time.Time, error) {
	if r.peek() != '"' {
		return time.Time{}, Bad("Expected a date-time")
	}
	s, err := r.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, ok := ParseDateTime(s)
	if !ok {
		return time.Time{}, Bad("Invalid date-time %q", s)
	}
	return t, nil
}

// ParseDateTime parses the contents of a date-time.
func ParseDateTime(s string) (time.Time, bool) {
	// date-day-fixed "-" date-month "-" date-year SP time SP zone
	if len(s) != 26 || s[11] != ' ' || s[20] != ' ' {
		return time.Time{}, false
	}
	y, m, d, ok := parseDate(s[:11])
	if !ok {
		return time.Time{}, false
	}
	tm, zone := s[12:20], s[21:]
	if tm[2] != ':' || tm[5] != ':' {
		return time.Time{}, false
	}
	hh, e1 := digits(tm[0:2])
	mm, e2 := digits(tm[3:5])
	ss, e3 := digits(tm[6:8])
	zh, e4 := digits(zone[1:3])
	zm, e5 := digits(zone[3:5])
	if !(e1 && e2 && e3 && e4 && e5) || hh > 23 || mm > 59 || ss > 60 || zm > 59 || (zone[0] != '+' && zone[0] != '-') {
		return time.Time{}, false
	}
	off := zh*3600 + zm*60
	if zone[0] == '-' {
		off = -off
	}
	return time.Date(y, m, d, hh, mm, min(ss, 59), 0, time.FixedZone("", off)), true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// FormatDateTime formats t as a date-time (without the quotes).
func FormatDateTime(t time.Time) string {
	return t.Format("02-Jan-2006 15:04:05 -0700")
}

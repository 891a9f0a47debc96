package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"sync"

	"modernc.org/sqlite"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Search implements store.Messages. Everything runs in SQL: flags, dates and
// sizes on the message rows, header fields on the blob rows, BODY and TEXT
// through the full-text index.
func (s *Store) Search(ctx context.Context, mailboxID int64, c *store.SearchCriteria) ([]uint32, error) {
	b := &searchBuilder{d: s.d, args: []any{mailboxID}}
	where := "m.mailbox_id = $1"
	exact := true
	if c != nil {
		if c.UIDs != nil {
			var cond string
			var args []any
			cond, args, exact = uidRangeSQL(c.UIDs, "m.uid", len(b.args)+1)
			b.args = append(b.args, args...)
			where += " AND " + cond
		}
		top := *c
		top.UIDs = nil
		if cond := b.criteria(&top); cond != "" {
			where += " AND " + cond
		}
	}
	// Flags, dates, sizes and UIDs are columns of messages (and of the
	// messages_state index): the blobs are joined only when a condition
	// needs them (header fields, the sent date, full text).
	from := "messages m"
	if blobColumn.MatchString(where) {
		from += " JOIN blobs b ON b.id = m.blob_id"
	}
	rows, err := s.query(ctx, `SELECT m.uid FROM `+from+` WHERE `+where+` ORDER BY m.uid`, b.args...)
	if err != nil {
		return nil, unavailable("search", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, unavailable("search", err)
		}
		if exact || c.UIDs.Contains(uid) {
			out = append(out, uid)
		}
	}
	return out, unavailable("search", rows.Err())
}

// blobColumn finds a reference to the blobs table (alias b) in a condition.
var blobColumn = regexp.MustCompile(`\bb\.`)

type searchBuilder struct {
	d    dialect
	args []any
}

func (b *searchBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}

// headerColumns are header fields kept in their own columns.
var headerColumns = map[string]string{
	"subject": "b.subject", "from": "b.from_h", "to": "b.to_h", "cc": "b.cc_h", "bcc": "b.bcc_h", "message-id": "b.message_id",
}

func (b *searchBuilder) contains(col, value string) string {
	return b.d.contains(b.arg, col, value)
}

// criteria renders c as an SQL condition ("" = always true).
func (b *searchBuilder) criteria(c *store.SearchCriteria) string {
	var conds []string
	add := func(s string) { conds = append(conds, s) }
	if c.UIDs != nil {
		add(b.uidSet(c.UIDs))
	}
	for _, f := range c.Flags {
		add(b.flag(f, true))
	}
	for _, f := range c.NotFlags {
		add(b.flag(f, false))
	}
	if !c.Since.IsZero() {
		add("m.internal_date >= " + b.arg(dateMicros(c.Since)))
	}
	if !c.Before.IsZero() {
		add("m.internal_date < " + b.arg(dateMicros(c.Before)))
	}
	sent := "CASE WHEN b.sent_date <> 0 THEN b.sent_date ELSE m.internal_date END"
	if !c.SentSince.IsZero() {
		add(sent + " >= " + b.arg(dateMicros(c.SentSince)))
	}
	if !c.SentBefore.IsZero() {
		add(sent + " < " + b.arg(dateMicros(c.SentBefore)))
	}
	if c.Larger > 0 {
		add("m.size > " + b.arg(c.Larger))
	}
	if c.Smaller > 0 {
		add("m.size < " + b.arg(c.Smaller))
	}
	if c.ModSeq > 0 {
		add("m.modseq >= " + b.arg(c.ModSeq))
	}
	for _, h := range c.Header {
		field := strings.ToLower(strings.TrimSpace(h.Field))
		if col, ok := headerColumns[field]; ok && h.Value != "" {
			add(b.contains(col, h.Value))
		} else {
			add(b.d.headerMatch(b.arg, field, h.Value))
		}
	}
	for _, w := range c.Body {
		add(b.text(w, "body"))
	}
	for _, w := range c.Text {
		add(b.text(w, ""))
	}
	for i := range c.Not {
		if sub := b.criteria(&c.Not[i]); sub != "" {
			add("NOT (" + sub + ")")
		} else {
			add("1 = 0")
		}
	}
	for _, pair := range c.Or {
		l, r := b.criteria(&pair[0]), b.criteria(&pair[1])
		if l == "" || r == "" {
			continue // one side always true
		}
		add("((" + l + ") OR (" + r + "))")
	}
	return strings.Join(conds, " AND ")
}

// uidSet renders a UID set exactly (it may sit under NOT or OR).
func (b *searchBuilder) uidSet(set store.UIDSet) string {
	if len(set) == 0 {
		return "1 = 0"
	}
	var parts []string
	for _, r := range set {
		if r.Start == r.Stop {
			parts = append(parts, fmt.Sprintf("m.uid = %d", r.Start))
		} else {
			parts = append(parts, fmt.Sprintf("m.uid BETWEEN %d AND %d", r.Start, r.Stop))
		}
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

func (b *searchBuilder) flag(f string, has bool) string {
	lf := strings.ToLower(f)
	if lf == `\recent` {
		if has {
			return "1 = 0"
		}
		return "1 = 1"
	}
	if bit, ok := sysFlagBits[lf]; ok {
		if has {
			return fmt.Sprintf("m.sysflags & %d <> 0", bit)
		}
		return fmt.Sprintf("m.sysflags & %d = 0", bit)
	}
	cond := "lower(m.keywords) LIKE " + b.arg("% "+strings.ReplaceAll(strings.ReplaceAll(lf, `\`, `\\`), "%", `\%`)+" %") + ` ESCAPE '\'`
	if has {
		return cond
	}
	return "NOT (" + cond + ")"
}

// text matches words through the full-text index; column "" means header
// or body. A search string without any word characters can only be
// checked against the header.
func (b *searchBuilder) text(w, column string) string {
	q := b.d.ftsQuery([]string{w}, column)
	if q == "" {
		if column == "" {
			return b.contains("b.header", w)
		}
		return "1 = 0"
	}
	return fmt.Sprintf(b.d.ftsMatch(column), b.arg(q))
}

// registerFunctions adds the Go functions the SQLite dialect's SQL uses.
// The driver keeps them process-wide, so it is done once.
var registerOnce sync.Once

func registerSQLiteFunctions() error {
	var err error
	registerOnce.Do(func() {
		err = sqlite.RegisterDeterministicScalarFunction("kp_contains", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			return int64(boolInt(containsFold(asString(args[0]), asString(args[1])))), nil
		})
		if err != nil {
			return
		}
		err = sqlite.RegisterDeterministicScalarFunction("kp_header_match", 3, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			return int64(boolInt(headerMatch(asString(args[0]), asString(args[1]), asString(args[2])))), nil
		})
	})
	return err
}

func asString(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// headerMatch reports whether the raw header section has a field named
// field whose (unfolded, RFC 2047-decoded) value contains value; an empty
// value only asks for the field to be present.
func headerMatch(header, field, value string) bool {
	found := false
	eachField(header, func(name, v string) bool {
		if strings.EqualFold(strings.TrimSpace(name), field) && (value == "" || containsFold(v, value)) {
			found = true
		}
		return !found
	})
	return found
}

// eachField calls fn with the name and the unfolded, RFC 2047-decoded value
// of every field of a header section, until fn returns false.
func eachField(header string, fn func(name, value string) bool) {
	dec := mime.WordDecoder{}
	var name, val strings.Builder
	emit := func() bool {
		v := val.String()
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		return fn(name.String(), v)
	}
	inField := false
	for _, line := range strings.Split(strings.ReplaceAll(header, "\r\n", "\n"), "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if inField {
				val.WriteString(" " + strings.TrimSpace(line))
			}
			continue
		}
		if inField && !emit() {
			return
		}
		inField = false
		n, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name.Reset()
		val.Reset()
		name.WriteString(n)
		val.WriteString(strings.TrimSpace(v))
		inField = true
	}
	if inField {
		emit()
	}
}

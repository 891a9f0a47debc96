package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds what differs between SQLite and PostgreSQL.
type dialect struct {
	name string
	// retryable reports whether a failed transaction may simply be retried.
	retryable func(error) bool
	// ftsInsert indexes a blob's text; ftsDelete removes it.
	ftsInsert string // args: blob id, then ftsArgs(header, body)
	ftsDelete string // args: blob id
	ftsArgs   func(header, body string) []any
	// ftsMatch is a condition on blob id column b.id with one %s, the query
	// argument; column is "body" or "" (header or body).
	ftsMatch func(column string) string
	// ftsQuery turns search words into the dialect's query syntax; "" when
	// there is no word to look for.
	ftsQuery func(words []string, column string) string
	// headerMatch is a condition on the header section of blob b: a field
	// named field whose value contains value (any value when "").
	headerMatch func(arg func(any) string, field, value string) string
	// contains is a case-insensitive substring condition on column col.
	contains func(arg func(any) string, col, value string) string
	// skipLocked ends a SELECT that picks rows to lease.
	skipLocked string
	// forUpdate ends a SELECT of one row that the transaction is about to
	// change, so concurrent writers of that row queue up (PostgreSQL; SQLite
	// has one writer).
	forUpdate string
	// snapshot starts a read transaction whose queries all see one snapshot.
	snapshot *sql.TxOptions
}

func sqliteDialect() dialect {
	return dialect{
		name: "sqlite",
		retryable: func(err error) bool {
			var se *sqlite.Error
			return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_BUSY || se.Code() == sqlite3.SQLITE_LOCKED)
		},
		ftsInsert: `INSERT INTO blob_text(rowid, header, body) VALUES ($1, $2, $3)`,
		ftsDelete: `DELETE FROM blob_text WHERE rowid = $1`,
		ftsArgs:   func(header, body string) []any { return []any{header, body} },
		ftsMatch: func(string) string {
			return `b.id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH %s)`
		},
		ftsQuery: sqliteFTSQuery,
		headerMatch: func(arg func(any) string, field, value string) string {
			return fmt.Sprintf(`kp_header_match(b.header, %s, %s)`, arg(field), arg(value))
		},
		contains: func(arg func(any) string, col, value string) string {
			return fmt.Sprintf("kp_contains(%s, %s)", col, arg(value))
		},
		snapshot: &sql.TxOptions{ReadOnly: true},
	}
}

// sqliteFTSQuery builds an FTS5 query: every word must occur (as a word
// prefix) in the given column ("" = any column).
func sqliteFTSQuery(words []string, column string) string {
	var parts []string
	for _, w := range words {
		for _, tok := range tokenize(w) {
			q := `"` + strings.ReplaceAll(tok, `"`, `""`) + `"*`
			if column != "" {
				q = column + " : " + q
			}
			parts = append(parts, q)
		}
	}
	return strings.Join(parts, " AND ")
}

// tokenize splits a search string into the words the index holds.
func tokenize(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 0x80)
	})
}

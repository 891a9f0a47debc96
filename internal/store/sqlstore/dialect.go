package sqlstore

import (
	"errors"
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
	ftsInsert string // args: blob id, header, body
	ftsDelete string // args: blob id
	// ftsMatch is a condition on blob id column b.id; args: query.
	ftsMatch func(column string) string
	// ftsQuery turns search words into the dialect's query syntax.
	ftsQuery func(words []string, column string) string
	// headerMatch is a condition on b.header; args: field, value.
	headerMatch string
	// skipLocked ends a SELECT that picks rows to lease.
	skipLocked string
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
		ftsMatch: func(string) string {
			return `b.id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH %s)`
		},
		ftsQuery:    sqliteFTSQuery,
		headerMatch: `kp_header_match(b.header, %s, %s)`,
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

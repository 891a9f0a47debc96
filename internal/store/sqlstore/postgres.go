package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/kantorpos/kantorpos/internal/store"
)

// Advisory lock keys (pg_advisory_lock(int, int)): the first number is
// ours ("kpos"), the second says what is locked.
const (
	pgLockSpace   = 0x6b706f73
	pgLockMigrate = -1 // schema migrations; maildrop locks use the account id
)

// pgState is what only the PostgreSQL dialect has: the connection settings
// for its dedicated connections (change notifications, maildrop locks) and
// this node's name in notifications.
type pgState struct {
	cfg    *pgx.ConnConfig
	node   string
	locker *pgLocker
}

// openPostgres opens the PostgreSQL dialect (cluster mode). The pool holds
// at most o.MaxConns connections; two more are dedicated to LISTEN and to
// maildrop locks.
func (s *Store) openPostgres(ctx context.Context, o Options) error {
	if o.DSN == "" {
		return errors.New("sqlstore: no PostgreSQL connection string (storage.dsn)")
	}
	cfg, err := pgx.ParseConfig(o.DSN)
	if err != nil {
		return fmt.Errorf("sqlstore: storage.dsn: %w", err)
	}
	// A server that is down or unreachable must give a quick temporary
	// error (451 / NO [UNAVAILABLE]), not hang sessions.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	cfg.DialFunc = dialFunc(cfg.ConnectTimeout)
	// "250 OK" means committed to disk, whatever the server's default.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "kantorpos"
	}
	db := sql.OpenDB(cleanConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+5*time.Second)
	defer cancel()
	var icu bool
	err = db.QueryRowContext(pctx, `SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')`).Scan(&icu)
	if err != nil {
		db.Close()
		return fmt.Errorf("sqlstore: connect to PostgreSQL %s: %w: %w", describe(cfg), store.ErrUnavailable, err)
	}
	node := make([]byte, 8)
	rand.Read(node)
	s.db, s.d = db, postgresDialect(icu)
	s.pg = &pgState{cfg: cfg, node: hex.EncodeToString(node)}
	s.pg.locker = &pgLocker{cfg: dedicated(cfg, "locks"), held: map[int32]bool{}, log: s.log}
	return nil
}

// dedicated returns the settings of a connection outside the pool, named
// for pg_stat_activity ("kantorpos listen", "kantorpos locks").
func dedicated(cfg *pgx.ConnConfig, what string) *pgx.ConnConfig {
	c := cfg.Copy()
	c.RuntimeParams["application_name"] = cfg.RuntimeParams["application_name"] + " " + what
	return c
}

// describe names a server without its password, for messages.
func describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// cleanConnector hands out connections whose string arguments are made
// storable: PostgreSQL text holds neither NUL nor invalid UTF-8, which mail
// (raw headers, remote servers' replies) may contain. SQLite stores such
// strings as they are; here they get U+FFFD instead of failing the write.
type cleanConnector struct{ driver.Connector }

func (c cleanConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return cleanConn{conn.(*stdlib.Conn)}, nil
}

type cleanConn struct{ *stdlib.Conn }

// CheckNamedValue implements driver.NamedValueChecker.
func (cleanConn) CheckNamedValue(nv *driver.NamedValue) error {
	if s, ok := nv.Value.(string); ok {
		nv.Value = pgText(s)
	}
	return nil
}

// pgText replaces NUL and invalid UTF-8 by U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func postgresDialect(icu bool) dialect {
	// lower() follows the database's locale; the ICU root collation, when
	// the server has it, folds every script whatever the locale.
	lower := func(col string) string { return "lower(" + col + ")" }
	if icu {
		lower = func(col string) string { return `lower(` + col + ` COLLATE "und-x-icu")` }
	}
	return dialect{
		name: "postgres",
		retryable: func(err error) bool {
			var pe *pgconn.PgError
			// serialization_failure, deadlock_detected
			return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
		},
		ftsInsert: `INSERT INTO blob_text (blob_id, header, body, header_lc)
			VALUES ($1, array_to_tsvector($2::text[]), array_to_tsvector($3::text[]), $4)`,
		ftsDelete: `DELETE FROM blob_text WHERE blob_id = $1`,
		ftsArgs: func(header, body string) []any {
			return []any{lexemes(header), lexemes(body), headerLines(header)}
		},
		ftsMatch: func(column string) string {
			vec := "t.header || t.body"
			if column == "body" {
				vec = "t.body"
			}
			return `EXISTS (SELECT 1 FROM blob_text t WHERE t.blob_id = b.id AND (` + vec + `) @@ %s::tsquery)`
		},
		ftsQuery: pgTSQuery,
		headerMatch: func(arg func(any) string, field, value string) string {
			re := `(^|\n)` + reQuote(strings.ToLower(strings.TrimSpace(field))) + `:`
			if value != "" {
				re += `[^\n]*` + reQuote(strings.ToLower(value))
			}
			return `EXISTS (SELECT 1 FROM blob_text t WHERE t.blob_id = b.id AND t.header_lc ~ ` + arg(pgText(re)) + `)`
		},
		contains: func(arg func(any) string, col, value string) string {
			return "strpos(" + lower(col) + ", " + arg(strings.ToLower(pgText(value))) + ") > 0"
		},
		skipLocked: " FOR UPDATE SKIP LOCKED",
		forUpdate:  " FOR UPDATE",
		snapshot:   &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	}
}

// maxLexeme bounds one word of the index (PostgreSQL allows 2 KiB); a
// longer word is indexed, and searched, by its first maxLexeme bytes.
const maxLexeme = 200

// fold lower-cases and removes diacritics (what SQLite's unicode61
// tokenizer with remove_diacritics does), so "Überraschung" is found as
// "uberraschung".
func fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, pgText(s))
	if err != nil {
		out = pgText(s)
	}
	return strings.ToLower(out)
}

// words splits text into index words, the way the SQLite index does.
func words(s string) []string {
	toks := tokenize(fold(s))
	for i, w := range toks {
		if len(w) > maxLexeme {
			w = w[:maxLexeme]
			for !utf8.ValidString(w) {
				w = w[:len(w)-1]
			}
			toks[i] = w
		}
	}
	return toks
}

// lexemes returns the distinct words of s, for array_to_tsvector.
func lexemes(s string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, w := range words(s) {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// pgTSQuery builds a tsquery: every word must occur as a word prefix.
// Which vector it is matched against (body, or header and body) is up to
// ftsMatch.
func pgTSQuery(ws []string, _ string) string {
	var parts []string
	for _, w := range ws {
		for _, tok := range words(w) {
			parts = append(parts, `'`+strings.ReplaceAll(strings.ReplaceAll(tok, `\`, `\\`), `'`, `''`)+`':*`)
		}
	}
	return strings.Join(parts, " & ")
}

// headerLines renders a header section for SEARCH HEADER on PostgreSQL:
// one field a line, "name:value", unfolded, RFC 2047-decoded and lower
// case, so that a regular expression anchored at a line start finds a field
// (the same rules as headerMatch, which SQLite calls).
func headerLines(header string) string {
	var b strings.Builder
	eachField(header, func(name, value string) bool {
		b.WriteString(strings.ToLower(strings.TrimSpace(name)))
		b.WriteByte(':')
		b.WriteString(strings.ToLower(strings.NewReplacer("\r", " ", "\n", " ").Replace(value)))
		b.WriteByte('\n')
		return true
	})
	return pgText(b.String())
}

// reQuote escapes s for a PostgreSQL regular expression (ARE): a backslash
// before a non-alphanumeric character makes it literal.
func reQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// startPostgres starts listening for other nodes' changes (before Open
// returns, so nothing committed after Open is missed) and the background
// work: blob collection and the maildrop lock connection's health.
func (s *Store) startPostgres(ctx context.Context) error {
	conn, err := s.listen(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: listen for changes: %w: %w", store.ErrUnavailable, err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	s.bg.Add(3)
	go func() {
		defer s.bg.Done()
		<-s.stop
		cancel()
	}()
	go s.listenLoop(bctx, conn)
	go s.pgHousekeeping(bctx)
	return nil
}

// pgHousekeeping is the PostgreSQL counterpart of the SQLite writer's idle
// work: it collects unreferenced blobs and keeps the lock connection alive.
func (s *Store) pgHousekeeping(ctx context.Context) {
	defer s.bg.Done()
	defer close(s.stopped)
	defer s.pg.locker.close()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.collectBlobs(ctx)
			s.pg.locker.check(ctx)
		}
	}
}

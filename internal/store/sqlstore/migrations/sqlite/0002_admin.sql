-- Administration on the web (issue 12): administrators, API tokens, and the
-- settings users keep on their own page.
ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;

-- API tokens: only the SHA-256 of the secret is kept (the secret is random,
-- 256 bits: a fast hash is enough, and it makes lookups by hash possible).
CREATE TABLE api_tokens (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	name    TEXT NOT NULL UNIQUE,
	hash    TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL
);

-- One row per account that changed a setting on its own page. Forwarding
-- and the away message are stored now; a later filtering feature acts on them.
CREATE TABLE account_settings (
	account_id   INTEGER PRIMARY KEY REFERENCES accounts(id),
	forward_to   TEXT NOT NULL DEFAULT '',
	forward_keep INTEGER NOT NULL DEFAULT 1,
	away_enabled INTEGER NOT NULL DEFAULT 0,
	away_subject TEXT NOT NULL DEFAULT '',
	away_body    TEXT NOT NULL DEFAULT '',
	updated      INTEGER NOT NULL
);

-- Users' Sieve scripts (at most one active per account) and the record of
-- vacation replies (RFC 5230 4.6), shared by every node of a cluster.
CREATE TABLE sieve_scripts (
	account_id    BIGINT NOT NULL REFERENCES accounts(id),
	name          TEXT NOT NULL,
	content       TEXT NOT NULL,
	active        INTEGER NOT NULL DEFAULT 0,
	updated       BIGINT NOT NULL,
	last_error    TEXT NOT NULL DEFAULT '',
	last_error_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, name)
);
CREATE TABLE sieve_vacation (
	account_id BIGINT NOT NULL REFERENCES accounts(id),
	handle     TEXT NOT NULL,
	sender     TEXT NOT NULL,
	sent       BIGINT NOT NULL,
	PRIMARY KEY (account_id, handle, sender)
);

-- kantorpos schema, SQLite dialect. Times are Unix nanoseconds.
CREATE TABLE domains (
	name    TEXT PRIMARY KEY,
	created INTEGER NOT NULL
);

CREATE TABLE accounts (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	address          TEXT NOT NULL UNIQUE,
	domain           TEXT NOT NULL REFERENCES domains(name),
	password_hash    TEXT NOT NULL,
	disabled         INTEGER NOT NULL DEFAULT 0,
	quota_bytes      INTEGER NOT NULL DEFAULT 0,
	used_bytes       INTEGER NOT NULL DEFAULT 0,
	next_uidvalidity INTEGER NOT NULL,
	created          INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain);

CREATE TABLE aliases (
	address TEXT NOT NULL,
	domain  TEXT NOT NULL REFERENCES domains(name),
	target  TEXT NOT NULL,
	PRIMARY KEY (address, target)
);
CREATE INDEX aliases_domain ON aliases(domain);
CREATE INDEX aliases_target ON aliases(target);

CREATE TABLE mailboxes (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id     INTEGER NOT NULL REFERENCES accounts(id),
	name           TEXT NOT NULL,
	uidvalidity    INTEGER NOT NULL,
	uidnext        INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 1,
	special_use    TEXT NOT NULL DEFAULT '',
	UNIQUE (account_id, name)
);

CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
);

-- One row per distinct message content, with what parsing it taught us.
CREATE TABLE blobs (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	hash          TEXT NOT NULL UNIQUE,
	size          INTEGER NOT NULL,
	refs          INTEGER NOT NULL,
	created       INTEGER NOT NULL,
	subject       TEXT NOT NULL DEFAULT '',
	from_h        TEXT NOT NULL DEFAULT '',
	to_h          TEXT NOT NULL DEFAULT '',
	cc_h          TEXT NOT NULL DEFAULT '',
	bcc_h         TEXT NOT NULL DEFAULT '',
	message_id    TEXT NOT NULL DEFAULT '',
	sent_date     INTEGER NOT NULL DEFAULT 0,
	header        TEXT NOT NULL DEFAULT '',
	envelope      BLOB,
	bodystructure BLOB
);

-- Blobs whose last reference went away; their files are removed later.
CREATE TABLE blob_trash (
	hash    TEXT PRIMARY KEY,
	trashed INTEGER NOT NULL
);

-- Full-text index of header and body text, rowid = blobs.id.
CREATE VIRTUAL TABLE blob_text USING fts5(
	header, body,
	content = '', contentless_delete = 1,
	tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE messages (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id),
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	sysflags      INTEGER NOT NULL DEFAULT 0,
	keywords      TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	blob_id       INTEGER NOT NULL REFERENCES blobs(id),
	prefix        BLOB,
	UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);

-- Tombstones of expunged messages, for change tracking (and QRESYNC).
CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

CREATE TABLE queue (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	domain         TEXT NOT NULL,
	blob_id        INTEGER NOT NULL REFERENCES blobs(id),
	prefix         BLOB,
	mail_from      TEXT NOT NULL,
	ret            TEXT NOT NULL DEFAULT '',
	envid          TEXT NOT NULL DEFAULT '',
	smtputf8       INTEGER NOT NULL DEFAULT 0,
	body8bit       INTEGER NOT NULL DEFAULT 0,
	account_id     INTEGER NOT NULL DEFAULT 0,
	created        INTEGER NOT NULL,
	next_attempt   INTEGER NOT NULL,
	last_attempt   INTEGER NOT NULL DEFAULT 0,
	attempts       INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT NOT NULL DEFAULT '',
	delay_notified INTEGER NOT NULL DEFAULT 0,
	lease_owner    TEXT NOT NULL DEFAULT '',
	lease_until    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON queue(next_attempt);

CREATE TABLE queue_rcpts (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	queue_id   INTEGER NOT NULL REFERENCES queue(id),
	addr       TEXT NOT NULL,
	orcpt      TEXT NOT NULL DEFAULT '',
	notify     TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL DEFAULT 'pending',
	last_code  INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX queue_rcpts_queue ON queue_rcpts(queue_id);

CREATE TABLE dkim_keys (
	domain      TEXT NOT NULL REFERENCES domains(name),
	selector    TEXT NOT NULL,
	algorithm   TEXT NOT NULL,
	private_key BLOB NOT NULL,
	created     INTEGER NOT NULL,
	retired     INTEGER,
	PRIMARY KEY (domain, selector)
);

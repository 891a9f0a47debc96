-- A covering index for what IMAP reads of every message when it opens a
-- mailbox (UID, MODSEQ, flags) and for searches on flags: the table rows,
-- which carry the message prefix, are not read for either.
CREATE INDEX messages_state ON messages(mailbox_id, uid, modseq, sysflags, keywords);

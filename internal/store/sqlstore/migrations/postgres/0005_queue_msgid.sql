-- Logs follow one message: each queue entry keeps the id of the message it
-- came from (the SMTP transaction id the "received" line names), written
-- on every queue event with the Message-ID (read from its blob's row).
ALTER TABLE queue ADD COLUMN msg_id TEXT NOT NULL DEFAULT '';

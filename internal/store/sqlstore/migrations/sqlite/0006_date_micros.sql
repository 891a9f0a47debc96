-- Message dates move from nanoseconds to microseconds since 1970, so that
-- any IMAP date (years 1 to 9999) fits in a BIGINT: nanoseconds end in 2262.
UPDATE messages SET internal_date = internal_date / 1000;
UPDATE blobs SET sent_date = sent_date / 1000;

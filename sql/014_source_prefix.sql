-- 014_source_prefix - a log file's source remembers the first bytes it was seen with, as a
-- length and an fnv1a64 hash (as a signed bigint). The identity is the hash of the first line
-- only, so two generations of a log that start alike (an empty line, a banner) used to share
-- one source, and the second one's lines before the first one's checkpoint were never stored.
-- Now a file whose first bytes differ from a row's gets a row of its own, its identity with
-- "/2", "/3" added (db/ingest.c, db_source_open). The prefix is stored with every checkpoint
-- until it is 4096 bytes long, so it always covers the bytes before the checkpoint. Rows from
-- before this migration have none and are matched by their identity alone until then.

ALTER TABLE sources ADD COLUMN prefix_len integer, ADD COLUMN prefix_hash bigint;

-- 013_storage - smaller indexes on the messages and the hourly rollups.
--
-- Messages arrive in time order (a log is read front to back, a batch at a time), so their
-- heap is already sorted by "time" and a BRIN index finds the blocks of a time range at a few
-- bytes per 32 pages instead of a B-tree entry per row. Reports read messages only by time
-- range (the received counts of the partial hours and minutes at the ends of a range) and
-- need no order from the index.
--
-- The attempts keep their B-tree on time: the bounces page walks it newest first, and the
-- per-sender report's partial hours read faster through it (with a BRIN index instead, the
-- 7-day mid-hour SASL-user report's p95 doubled at 10M attempts).
--
-- A message-id is looked up only by equality (the message page, and its queue ids from it), and
-- it is long (40 bytes and more): a hash index holds a 4-byte hash per row instead, 104 MiB
-- instead of 184 for 3.3M messages.
--
-- rollups_host_hour_idx (host, hour) duplicated what the primary key (hour, host, ...) of
-- "rollups" answers for a range of hours and one host; it goes.
--
-- Indexes on the partitioned tables apply to every partition, present and future. Unique keys
-- (the position key, with source_id, the distribution column) are unchanged.

DROP INDEX messages_time_idx;
CREATE INDEX messages_time_brin ON messages USING brin (time) WITH (pages_per_range = 32);

DROP INDEX messages_message_id_idx;
CREATE INDEX messages_message_id_idx ON messages USING hash (message_id);

DROP INDEX rollups_host_hour_idx;

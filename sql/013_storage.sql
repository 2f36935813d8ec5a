-- 013_storage - smaller indexes on the event tables and the hourly rollups.
--
-- The attempts and messages arrive in time order (a log is read front to back, a batch at a
-- time), so their heap is already sorted by "time" and a BRIN index finds the blocks of a time
-- range at a few bytes per 32 pages instead of a B-tree entry per row. Reports read time
-- ranges (the partial hours and minutes at the ends of a range, exports) and need no order
-- from the index, except the bounces page: it walks the failed attempts newest first and
-- stops after one page, so the failed attempts keep a B-tree on time, partial on
-- status <> 'sent' (one attempt in ten in a healthy stream).
--
-- rollups_host_hour_idx (host, hour) duplicated what the primary key (hour, host, ...) of
-- "rollups" answers for a range of hours and one host; it goes.
--
-- Indexes on the partitioned tables apply to every partition, present and future. Unique keys
-- (the position key, with source_id, the distribution column) are unchanged.

DROP INDEX deliveries_time_idx;
CREATE INDEX deliveries_failed_time_idx ON deliveries (time) WHERE status <> 'sent';
CREATE INDEX deliveries_time_brin ON deliveries USING brin (time) WITH (pages_per_range = 32);

DROP INDEX messages_time_idx;
CREATE INDEX messages_time_brin ON messages USING brin (time) WITH (pages_per_range = 32);

DROP INDEX rollups_host_hour_idx;

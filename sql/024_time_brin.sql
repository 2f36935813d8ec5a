-- 024_time_brin - the attempts found by time through a BRIN index, and BRIN ranges that the
-- writer keeps summarized.
--
-- The B-tree on the attempts' time held an entry per attempt, about 20 bytes of the 742 an
-- attempt took on 10M attempts. The attempts arrive in time order, as the messages do
-- (013_storage), so a BRIN index finds a time range's blocks with a minimum and a maximum per
-- 128 pages. A scan reads the whole index of a partition, so the number of ranges sets its
-- cost: at 30M attempts (18M in a month's partition) 2 ms per scan with 32 pages per range,
-- 0.5 ms with 128, where a B-tree takes a few microseconds; a range's end then reads up to
-- two ranges (about 6,000 attempts) more than it needs. On 55_scale's 7-day mid-hour ranges
-- at 30M that is the dashboard at 39 ms p50 against 34 with the B-tree, and the SASL-user
-- report at 35 against 34. (013 kept the B-tree because the SASL-user report's p95 doubled
-- with BRIN. At 30M the same doubling showed again, and it was JIT compilation, which the
-- bitmap scans' higher cost estimates set off: report connections plan without JIT now,
-- db_open_reports().) Two readers needed the B-tree's order:
--   * the bounces page without a filter walks the failed attempts newest first: a B-tree on
--     the time of the attempts that were not sent (a tenth of them, or less) serves it;
--   * an export of attempts is in time order: it reads the range in windows and sorts each
--     (db_export_open()).
--
-- A BRIN range is summarized by VACUUM, by brin_summarize_new_values(), or by autosummarize;
-- until then every scan of the index reads it. Rows keep arriving at the end of the current
-- month's partitions, and autovacuum visits an insert-only table only after a fifth of it is
-- new: days of recent rows that each report read in full. autosummarize queues one request
-- per range and drops (with a log line each) what does not fit in its 256 slots, which a
-- bulk import overruns. So the writer calls mailpulse_summarize_brin() every minute and at
-- the end of an import (db_summarize()). It summarizes the new ranges of every BRIN index of
-- the schema (those of messages, attempts and rollups_domain_hour), and skips an index whose
-- table another session holds, e.g. a REINDEX of `mailpulse db compact`, instead of waiting.
CREATE INDEX deliveries_time_brin ON deliveries USING brin (time) WITH (pages_per_range = 128);
CREATE INDEX deliveries_failed_time_idx ON deliveries (time) WHERE status <> 'sent';
DROP INDEX deliveries_time_idx;

-- mailpulse_summarize_brin - summarize the new page ranges of the schema's BRIN indexes; the
-- number of ranges summarized. An index that cannot be locked at once, or that this role
-- does not own, is left for the next call.
CREATE FUNCTION mailpulse_summarize_brin() RETURNS bigint
LANGUAGE plpgsql SET lock_timeout = '100ms' AS $$
DECLARE
    ix regclass;
    n bigint := 0;
BEGIN
    FOR ix IN SELECT c.oid::regclass FROM pg_class c
              JOIN pg_am a ON a.oid = c.relam
              JOIN pg_index x ON x.indexrelid = c.oid
              WHERE a.amname = 'brin' AND c.relkind = 'i' AND x.indisvalid
                AND c.relnamespace = current_schema()::regnamespace
              ORDER BY c.oid
    LOOP
        BEGIN
            n := n + brin_summarize_new_values(ix);
        EXCEPTION WHEN lock_not_available OR insufficient_privilege OR undefined_table THEN
            NULL;
        END;
    END LOOP;
    RETURN n;
END
$$;

-- 024_brin_ranges - BRIN ranges that hold a row out of order without reaching over it, and
-- that the writer keeps summarized.
--
-- The messages' time (013) and rollups_domain_hour's hour (021) are found through BRIN
-- indexes: a summary of each range of pages instead of an entry per row, which works while
-- the rows of a range have times close together. Two things spoil that.
--
-- A range nothing summarized yet is read in full by every scan of the index. VACUUM, or
-- brin_summarize_new_values(), or autosummarize summarize ranges; but rows keep arriving at
-- the end of the current month's partition, and autovacuum visits an insert-only table only
-- after a fifth of it is new: days of recent rows that every report read in full. autosummarize
-- queues a request per range and drops (with a log line each) what does not fit in its 256
-- slots, which a bulk import overruns. So the writer calls mailpulse_summarize_brin() after a
-- commit when the last call was a minute ago or more, and an import at its end
-- (db_summarize()). It summarizes the new ranges of every BRIN index of the schema, and skips
-- an index whose table another session holds (a REINDEX of `mailpulse db compact`, a VACUUM)
-- instead of waiting.
--
-- Rows arrive in time order, but not all of them land in order. Once VACUUM has recorded the
-- room left at the end of each filled page in the free space map, a later row that fits goes
-- there, among rows hours or days older; and an update (rollups_domain_hour's upserts) may
-- move a row to any page with room. With one minimum and maximum per range, one such row
-- stretches its range from its old rows to now, and every scan of a time between reads it: on
-- a live test (a 4-hour log through `serve`, restarted once after an autovacuum) 12 of the
-- attempts' 81 ranges of 128 pages spanned more than half an hour, and a one-minute query read
-- 1,152 pages where its rows lay in 216. minmax-multi keeps up to 32 intervals and points per
-- range, so a stray row stays a point: 384 pages (the three ranges that hold the rows), and
-- none for a minute with no rows, where plain ranges read 1,407.
--
-- The attempts keep their B-tree on time. BRIN on them (tried, at 30M attempts; report
-- connections without JIT) saves 20 bytes of the 742 an attempt takes, but a scan reads the
-- whole index of a partition, so it costs more as a month holds more attempts, and the
-- dashboard over 7 days mid-hour took 39 ms at p50 with plain ranges of 128 pages (which
-- the rows above spoil), 54 with minmax-multi, against 34 with the B-tree.
DROP INDEX messages_time_brin;
CREATE INDEX messages_time_brin ON messages
    USING brin (time timestamptz_minmax_multi_ops) WITH (pages_per_range = 32);
DROP INDEX rollups_domain_hour_brin;
CREATE INDEX rollups_domain_hour_brin ON rollups_domain_hour
    USING brin (hour timestamptz_minmax_multi_ops);

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

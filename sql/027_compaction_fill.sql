-- 027_compaction_fill - the B-trees of a month that has ended are rebuilt full.
--
-- A B-tree is built with its leaf pages 90 % full, which leaves room for the keys that come
-- later without splitting pages. A month that has ended takes almost no rows, so that room
-- stays empty: `mailpulse db compact` now sets fillfactor 100 on every B-tree of the
-- partition before it rebuilds them (sql/017). REINDEX CONCURRENTLY keeps an index's
-- options, so the rebuilt index is packed full. A late row that lands in a full page splits
-- it in two, as any insert into a full page does; late rows are few.
--
-- Changing fillfactor takes SHARE UPDATE EXCLUSIVE on the index alone: reads and writes of
-- the partition go on.

-- mailpulse_unfilled_btrees - the B-trees of p_table without fillfactor 100
CREATE FUNCTION mailpulse_unfilled_btrees(p_table regclass)
RETURNS SETOF regclass LANGUAGE sql STABLE AS $$
    SELECT x.indexrelid::regclass
    FROM pg_index x
    JOIN pg_class c ON c.oid = x.indexrelid
    JOIN pg_am a ON a.oid = c.relam
    WHERE x.indrelid = p_table AND a.amname = 'btree'
      AND NOT coalesce(c.reloptions @> ARRAY['fillfactor=100'], false)
    ORDER BY 1
$$;

-- mailpulse_fill_indexes - fillfactor 100 on each B-tree of p_table that does not have it yet;
-- how many were changed
CREATE FUNCTION mailpulse_fill_indexes(p_table regclass)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    idx regclass;
    n integer := 0;
BEGIN
    FOR idx IN SELECT * FROM mailpulse_unfilled_btrees(p_table) LOOP
        EXECUTE format('ALTER INDEX %s SET (fillfactor = 100)', idx);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

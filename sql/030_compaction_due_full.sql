-- 030_compaction_due_full - a month that has ended is due for compaction until its B-trees
-- are full.
--
-- A month compacted before 027 had its indexes rebuilt with the 10 % of room a build leaves,
-- and an index a later migration adds to an ended month (029's on the messages' time) is
-- built the same way. mailpulse_compaction_due() listed a month only once; it now lists it
-- again while one of its B-trees lacks fillfactor 100 (mailpulse_unfilled_btrees(), 027),
-- which compaction sets on all of them before it rebuilds them. So a database upgraded past 027
-- has its ended months packed once more by the next `mailpulse db compact`, and then no more.
CREATE OR REPLACE FUNCTION mailpulse_compaction_due(p_cutoff timestamptz)
RETURNS TABLE (nspname text, relname text) LANGUAGE sql STABLE AS $$
    SELECT n.nspname::text, c.relname::text
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.inhparent IN (SELECT to_regclass(quote_ident(name)) FROM partitioned_tables)
      AND c.relname ~ '_p[0-9]{6}$'
      AND (to_timestamp(right(c.relname, 6), 'YYYYMM')::timestamp + interval '1 month')
              AT TIME ZONE 'UTC' <= p_cutoff
      AND (NOT EXISTS (SELECT 1 FROM partition_compactions p WHERE p.name = c.relname)
           OR EXISTS (SELECT 1 FROM mailpulse_unfilled_btrees(c.oid)))
    ORDER BY right(c.relname, 6), c.relname
$$;

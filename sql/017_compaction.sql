-- 017_compaction - the indexes of a month that has ended are rebuilt once, packed.
--
-- Rows arrive in time order, so the indexes led by time or by the position in a source fill
-- their pages; those on a recipient, a queue id or a Message-ID take keys in no order, split
-- pages as they go, and sit at 60-75% full. Once a month has ended its partitions take
-- almost no rows, so `mailpulse db compact` rebuilds their indexes (REINDEX CONCURRENTLY,
-- which lets the ingest and the reports go on) and records it here: about 20 bytes per
-- attempt of a closed month on genlog's log (117.2 -> 103.4 MB of index for 685,979
-- attempts). Rows a late log brings afterwards go into the rebuilt indexes as before.
CREATE TABLE partition_compactions (
    name               text PRIMARY KEY,   -- the partition, e.g. deliveries_p202610
    compacted_at       timestamptz NOT NULL DEFAULT now(),
    index_bytes_before bigint NOT NULL,
    index_bytes_after  bigint NOT NULL
);

-- mailpulse_compaction_due - the monthly partitions of the event tables whose month ended at
-- or before p_cutoff and whose indexes were not rebuilt since, oldest month first.
CREATE FUNCTION mailpulse_compaction_due(p_cutoff timestamptz)
RETURNS TABLE (nspname text, relname text) LANGUAGE sql STABLE AS $$
    SELECT n.nspname::text, c.relname::text
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.inhparent IN (SELECT to_regclass(quote_ident(name)) FROM partitioned_tables)
      AND c.relname ~ '_p[0-9]{6}$'
      AND (to_timestamp(right(c.relname, 6), 'YYYYMM')::timestamp + interval '1 month')
              AT TIME ZONE 'UTC' <= p_cutoff
      AND NOT EXISTS (SELECT 1 FROM partition_compactions p WHERE p.name = c.relname)
    ORDER BY right(c.relname, 6), c.relname
$$;

-- mailpulse_compaction_leftovers - the indexes an interrupted REINDEX CONCURRENTLY left on
-- the event tables' partitions: invalid, and named with its _ccnew or _ccold suffix.
CREATE FUNCTION mailpulse_compaction_leftovers()
RETURNS TABLE (nspname text, relname text) LANGUAGE sql STABLE AS $$
    SELECT n.nspname::text, ic.relname::text
    FROM pg_index x
    JOIN pg_class ic ON ic.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = ic.relnamespace
    JOIN pg_inherits i ON i.inhrelid = x.indrelid
    WHERE NOT x.indisvalid
      AND ic.relname ~ '_cc(new|old)[0-9]*$'
      AND i.inhparent IN (SELECT to_regclass(quote_ident(name)) FROM partitioned_tables)
    ORDER BY 1, 2
$$;

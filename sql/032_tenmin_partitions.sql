-- 032_tenmin_partitions - the ten-minute rollups partitioned by month, dropped with the events.
--
-- rollups_domain_tenmin and rollups_sender_tenmin (031) serve only the ends of a range: the
-- whole ten minutes next to an end whose rest is read from the events. Once retention has
-- dropped a month's events, the ends in that month are no longer exact (the events of their
-- last minutes are gone), and its ten-minute rows refine nothing the hour rollups do not give:
-- kept, they would add about 80 bytes per attempt for ever (at 10M attempts, 784 MB a month)
-- to a database whose events retention keeps bounded. So both tables are now partitioned by
-- month of "tenmin" like the event tables, listed in partitioned_tables:
-- mailpulse_ensure_partitions() makes their months with the events' (a batch, the daemon's
-- hourly call), mailpulse_drop_partitions() drops them with the events', and `db compact`
-- packs their indexes once a month has ended. The hour, day and month rollups stay as before.
--
-- mailpulse_tenmin_add() makes the partitions of the months it adds up, for the months that
-- have events (a range may reach far past them: a rebuild up to a "through" far ahead),
-- then adds them up as before (031's function, renamed mailpulse_tenmin_sum).
-- The rows are copied from the old tables, whose months get their partitions here.

ALTER TABLE rollups_domain_tenmin RENAME TO rollups_domain_tenmin_031;
ALTER INDEX rollups_domain_tenmin_idx RENAME TO rollups_domain_tenmin_031_idx;
ALTER TABLE rollups_sender_tenmin RENAME TO rollups_sender_tenmin_031;
ALTER INDEX rollups_sender_tenmin_idx RENAME TO rollups_sender_tenmin_031_idx;

-- The same columns, defaults and check, partitioned.
CREATE TABLE rollups_domain_tenmin (LIKE rollups_domain_tenmin_031 INCLUDING DEFAULTS
                                    INCLUDING CONSTRAINTS) PARTITION BY RANGE (tenmin);
CREATE INDEX rollups_domain_tenmin_idx ON rollups_domain_tenmin (tenmin);
CREATE TABLE rollups_sender_tenmin (LIKE rollups_sender_tenmin_031 INCLUDING DEFAULTS
                                    INCLUDING CONSTRAINTS) PARTITION BY RANGE (tenmin);
CREATE INDEX rollups_sender_tenmin_idx ON rollups_sender_tenmin (axis, tenmin);

INSERT INTO partitioned_tables (name)
VALUES ('rollups_domain_tenmin'), ('rollups_sender_tenmin');

-- mailpulse_event_months - the months (their first instant) that have a partition of attempts,
-- rejects or messages: the months events can be in
CREATE FUNCTION mailpulse_event_months()
RETURNS SETOF timestamptz LANGUAGE sql STABLE AS $$
    SELECT DISTINCT to_timestamp(right(c.relname, 6), 'YYYYMM')::timestamp AT TIME ZONE 'UTC'
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent IN (to_regclass('deliveries'), to_regclass('rejects'),
                          to_regclass('messages'))
      AND c.relname ~ '_p[0-9]{6}$'
$$;

-- mailpulse_tenmin_partitions - the partitions of every table for the months of events in
-- [p_from, p_to)
CREATE FUNCTION mailpulse_tenmin_partitions(p_from timestamptz, p_to timestamptz)
RETURNS void LANGUAGE sql AS $$
    SELECT count(mailpulse_ensure_partitions(m, m)) FROM mailpulse_event_months() m
    WHERE m < p_to AND m + interval '1 month' > p_from;
$$;

SELECT mailpulse_tenmin_partitions('-infinity', 'infinity');
-- A bucket of a month whose events are gone (retention) has no partition to go to.
INSERT INTO rollups_domain_tenmin
SELECT * FROM rollups_domain_tenmin_031
WHERE date_trunc('month', tenmin, 'UTC') IN (SELECT mailpulse_event_months())
ORDER BY tenmin;
INSERT INTO rollups_sender_tenmin
SELECT * FROM rollups_sender_tenmin_031
WHERE date_trunc('month', tenmin, 'UTC') IN (SELECT mailpulse_event_months())
ORDER BY axis, tenmin;
DROP TABLE rollups_domain_tenmin_031, rollups_sender_tenmin_031;
-- Statistics now, not when autovacuum comes to the new partitions: without them the reports'
-- plans of the ends guess.
ANALYZE rollups_domain_tenmin, rollups_sender_tenmin;

-- mailpulse_tenmin_add - as in 031 (whose body is now mailpulse_tenmin_sum), with the
-- partitions of the months it adds up made first.
ALTER FUNCTION mailpulse_tenmin_add(timestamptz, timestamptz) RENAME TO mailpulse_tenmin_sum;
CREATE FUNCTION mailpulse_tenmin_add(p_from timestamptz, p_to timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mailpulse_tenmin_partitions(p_from, p_to);
    PERFORM mailpulse_tenmin_sum(p_from, p_to);
END $$;

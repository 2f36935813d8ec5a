-- 004_domain_rollups - delivery attempts per recipient domain at the day and month grain.
--
-- In a long tail of recipient domains almost every (hour, domain) pair is new, so "rollups"
-- holds about one row per attempt for the small domains and a report per domain over a
-- month adds up millions of rows. These tables answer it instead:
--
--   rollups_domain_day    per UTC day x recipient domain: sent, deferred, bounced and
--                         expired attempts, and n, their sum. Keyed by domain first, so the
--                         days of a few domains are a short index scan each; the index on
--                         (day, n DESC) gives the busiest domains of a day.
--   rollups_domain_month  per UTC month x recipient domain: n, with the same (month,
--                         n DESC) index for the busiest domains of a month.
--
-- Both count delivery attempts with a known recipient domain over every host and sender
-- domain; the ingest keeps them in the transaction that keeps "rollups", from the same
-- inserted rows, and they always equal "rollups" summed over hours, hosts, sender domains,
-- reasons and DSN codes. db_domains() reads the busiest domains per day or month to bound
-- what any other domain can have in a range, and adds up the exact counts of the candidates
-- from whole days here, whole edge hours from "rollups" (by the new index on recipient
-- domain and hour) and the partial hours at the ends from the events.
--
-- The day table's counts are integers: one domain does not get 2^31 attempts in a day.

CREATE TABLE rollups_domain_day (
    day               timestamptz NOT NULL,
    recipient_domain  text NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    deferred          integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    expired           integer NOT NULL DEFAULT 0,
    n                 integer GENERATED ALWAYS AS (sent + deferred + bounced + expired) STORED,
    PRIMARY KEY (recipient_domain, day)
);
CREATE INDEX rollups_domain_day_n_idx ON rollups_domain_day (day, n DESC);

CREATE TABLE rollups_domain_month (
    month             timestamptz NOT NULL,
    recipient_domain  text NOT NULL,
    n                 bigint NOT NULL,
    PRIMARY KEY (month, recipient_domain)
);
CREATE INDEX rollups_domain_month_n_idx ON rollups_domain_month (month, n DESC);

-- The hours of a few domains: their rollup rows by an index-only scan (kind and n included),
-- a big domain having a row per host, sender domain, reason and DSN code in every hour.
CREATE INDEX rollups_domain_hour_idx ON rollups (recipient_domain, hour) INCLUDE (kind, n);

-- mailpulse_rebuild_domain_rollups - the two tables again from "rollups"
CREATE FUNCTION mailpulse_rebuild_domain_rollups()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE rollups_domain_day, rollups_domain_month;
    INSERT INTO rollups_domain_day (day, recipient_domain, sent, deferred, bounced, expired)
    SELECT date_trunc('day', hour, 'UTC'), recipient_domain,
           coalesce(sum(n) FILTER (WHERE kind = 'sent'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'deferred'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'bounced'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'expired'), 0)
    FROM rollups
    WHERE kind IN ('sent', 'deferred', 'bounced', 'expired') AND recipient_domain <> ''
    GROUP BY 1, 2;
    INSERT INTO rollups_domain_month (month, recipient_domain, n)
    SELECT date_trunc('month', day, 'UTC'), recipient_domain, sum(n)
    FROM rollups_domain_day GROUP BY 1, 2;
END $$;

-- mailpulse_rebuild_rollups - as in 003, then the domain rollups from rollups.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_rollups()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    made bigint;
BEGIN
    LOCK TABLE rollups, rollups_host, rollups_domain_day, rollups_domain_month
        IN EXCLUSIVE MODE;
    SELECT date_trunc('hour', min(time), 'UTC') INTO oldest FROM facts;
    IF oldest IS NOT NULL THEN
        DELETE FROM rollups WHERE hour >= oldest;
    END IF;
    INSERT INTO rollups (hour, host, sender_domain, recipient_domain, kind, reason, dsn, n,
                         example)
    SELECT date_trunc('hour', time, 'UTC'), host, sender_domain, recipient_domain, kind,
           reason, dsn, count(*), min(reply)
    FROM facts WHERE time IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    GET DIAGNOSTICS made = ROW_COUNT;
    TRUNCATE rollups_host;
    INSERT INTO rollups_host (hour, host, kind, reason, dsn, n, example)
    SELECT hour, host, kind, reason, dsn, sum(n), min(example)
    FROM rollups GROUP BY 1, 2, 3, 4, 5;
    PERFORM mailpulse_rebuild_domain_rollups();
    RETURN made;
END $$;

-- The last statement must not return rows (the migrator expects a command).
DO $$ BEGIN PERFORM mailpulse_rebuild_domain_rollups(); END $$;

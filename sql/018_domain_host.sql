-- 018_domain_host - per-host counts of each recipient domain, so that a domains report for one
-- sending host is bounded as the report for all hosts is.
--
-- db_domains() answered a report with a host filter (the dashboard's host picker) by adding
-- up every domain of the range from "rollups": 0.9 s for 30 days at 10M attempts over a
-- long tail, 0.3 s for 7 days. The bound of db/domains.c holds for one host as it is: a
-- domain that is not among the busiest of a day (or month) over all hosts has at most the
-- L-th count there on any one host. What was missing are the candidates' exact counts on
-- that host:
--
--   rollups_domain_hour      now per recipient domain x UTC hour x host (it was per domain
--                            and hour): the whole edge hours of a range, for one host or
--                            summed over the hosts. 3.36M rows instead of 2.79M at 10M
--                            attempts from 3 hosts.
--   rollups_domain_host_day  per recipient domain x host x UTC day: sent, deferred, bounced,
--                            expired; the whole days for one host. A candidate's month is
--                            30 rows of it, where the hours would be 720 rows on as many
--                            pages (the hour rows are written in time order).
--
-- rollups_domain_day keeps one row per domain and day over all hosts: its (day, n DESC)
-- index gives the busiest domains of a day, which the bound needs over all hosts.
--
-- Their counts are integers (they were bigint): one domain does not get 2^31 attempts from
-- one host in an hour, and each row is 16 bytes smaller.
--
-- Both tables equal "rollups" summed over the other columns; the ingest keeps them in the
-- transaction that keeps "rollups", and mailpulse_rebuild_domain_rollups() makes them again.

CREATE TABLE rollups_domain_hour_new (
    recipient_domain  text NOT NULL,
    hour              timestamptz NOT NULL,
    host              text NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    deferred          integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    expired           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (recipient_domain, hour, host)
);
DROP TABLE rollups_domain_hour;
ALTER TABLE rollups_domain_hour_new RENAME TO rollups_domain_hour;
ALTER INDEX rollups_domain_hour_new_pkey RENAME TO rollups_domain_hour_pkey;

CREATE TABLE rollups_domain_host_day (
    recipient_domain  text NOT NULL,
    host              text NOT NULL,
    day               timestamptz NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    deferred          integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    expired           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (recipient_domain, host, day)
);

-- mailpulse_rebuild_domain_rollups - the hour rows from rollups, the day rows (over all hosts,
-- and per host) from them and the month rows from the days, each in time order.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_domain_rollups()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE rollups_domain_hour, rollups_domain_host_day, rollups_domain_day,
        rollups_domain_month;
    INSERT INTO rollups_domain_hour (recipient_domain, hour, host, sent, deferred, bounced,
                                     expired)
    SELECT recipient_domain, hour, host,
           coalesce(sum(n) FILTER (WHERE kind = 'sent'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'deferred'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'bounced'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'expired'), 0)
    FROM rollups
    WHERE kind IN ('sent', 'deferred', 'bounced', 'expired') AND recipient_domain <> ''
    GROUP BY 1, 2, 3 ORDER BY 2, 1, 3;
    INSERT INTO rollups_domain_host_day (recipient_domain, host, day, sent, deferred, bounced,
                                         expired)
    SELECT recipient_domain, host, date_trunc('day', hour, 'UTC'), sum(sent), sum(deferred),
           sum(bounced), sum(expired)
    FROM rollups_domain_hour GROUP BY 1, 2, 3 ORDER BY 3, 1, 2;
    INSERT INTO rollups_domain_day (day, recipient_domain, sent, deferred, bounced, expired)
    SELECT day, recipient_domain, sum(sent), sum(deferred), sum(bounced), sum(expired)
    FROM rollups_domain_host_day GROUP BY 1, 2 ORDER BY 1, 2;
    INSERT INTO rollups_domain_month (month, recipient_domain, n)
    SELECT date_trunc('month', day, 'UTC'), recipient_domain, sum(n)
    FROM rollups_domain_day GROUP BY 1, 2 ORDER BY 1, 2;
END $$;

-- The hour rows with their host, and the new day rows; the last statement must not return
-- rows (the migrator expects a command).
DO $$ BEGIN PERFORM mailpulse_rebuild_domain_rollups(); END $$;

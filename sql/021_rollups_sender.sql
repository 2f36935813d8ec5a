-- 021_rollups_sender - the hourly rollups without the recipient domain.
--
-- "rollups" was keyed by hour, host, sender domain, recipient domain, kind, reason and DSN.
-- Over a long tail of recipient domains almost every (hour, recipient domain) pair is new, so
-- it held about one row per two attempts: 5.0M rows and about 100 bytes per attempt at 10M
-- attempts, and the largest upsert of every import transaction. What still reads it knows no
-- recipient domain: the received and sent rows of one sender domain, the aggregates filtered
-- by sender domain, reason or DSN. The counts by recipient domain come from the tables made
-- for them, one row per domain, hour and host:
--
--   the domains report          rollups_domain_day/_month/_host_day, rollups_domain_hour
--                               (its whole hours when it has to add up every domain, too);
--   the domain alerts' window   rollups_domain_hour, found by a BRIN index on its hour (the
--                               ingest and the rebuild write its rows in time order);
--   aggregates filtered by a    the events of the whole range (database API only: no
--   recipient domain            report of the web API or `report` filters so).
--
-- rollups_domain_hour now also counts the attempts without a recipient domain (under ''), so
-- that its rows add up to every attempt of an hour, as a domains report's total needs. The
-- day and month tables keep leaving them out.
--
-- The rows of "rollups" are summed over the recipient domains; those of the hours whose events
-- retention dropped are kept that way. rollups_domain_hour gets its '' rows from them.

INSERT INTO rollups_domain_hour (recipient_domain, hour, host, sent, deferred, bounced, expired)
SELECT '', hour, host,
       coalesce(sum(n) FILTER (WHERE kind = 'sent'), 0),
       coalesce(sum(n) FILTER (WHERE kind = 'deferred'), 0),
       coalesce(sum(n) FILTER (WHERE kind = 'bounced'), 0),
       coalesce(sum(n) FILTER (WHERE kind = 'expired'), 0)
FROM rollups
WHERE recipient_domain = '' AND kind IN ('sent', 'deferred', 'bounced', 'expired')
GROUP BY 2, 3;

CREATE TABLE rollups_new (
    hour              timestamptz NOT NULL,
    host              text NOT NULL,
    sender_domain     text NOT NULL,     -- '' when unknown
    kind              text NOT NULL,     -- received notice sent deferred bounced expired rejected
    reason            text NOT NULL,
    dsn               text NOT NULL,
    n                 bigint NOT NULL,
    example           text,              -- one reply of this row (not for sent, received)
    PRIMARY KEY (hour, host, sender_domain, kind, reason, dsn)
);
INSERT INTO rollups_new (hour, host, sender_domain, kind, reason, dsn, n, example)
SELECT hour, host, sender_domain, kind, reason, dsn, sum(n), min(example)
FROM rollups GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6;
DROP TABLE rollups;
ALTER TABLE rollups_new RENAME TO rollups;
ALTER INDEX rollups_new_pkey RENAME TO rollups_pkey;
CREATE INDEX rollups_received_idx ON rollups (sender_domain, hour) WHERE kind = 'received';

CREATE INDEX rollups_domain_hour_brin ON rollups_domain_hour USING brin (hour);

-- mailpulse_rebuild_rollups - as in 015, "rollups" without the recipient domain.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_rollups()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    made bigint;
    f text;
BEGIN
    LOCK TABLE rollups, rollups_host, rollups_host_minute, rollups_domain_hour,
        rollups_domain_host_day, rollups_domain_day, rollups_domain_month IN EXCLUSIVE MODE;
    SELECT date_trunc('hour', min(time), 'UTC') INTO oldest FROM facts;
    IF oldest IS NOT NULL THEN
        DELETE FROM rollups WHERE hour >= oldest;
        DELETE FROM rollups_host_minute WHERE minute >= oldest;
    END IF;
    INSERT INTO rollups (hour, host, sender_domain, kind, reason, dsn, n, example)
    SELECT date_trunc('hour', time, 'UTC'), host, sender_domain, kind, reason, dsn, count(*),
           min(reply)
    FROM facts WHERE time IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS made = ROW_COUNT;
    TRUNCATE rollups_host;
    INSERT INTO rollups_host (hour, host, kind, reason, dsn, n, example)
    SELECT hour, host, kind, reason, dsn, sum(n), min(example)
    FROM rollups GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5;
    INSERT INTO rollups_host_minute (minute, host, kind, reason, dsn, n, example)
    SELECT date_trunc('minute', time, 'UTC'), host, kind, reason, dsn, count(*), min(reply)
    FROM facts WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5;
    FOR f IN SELECT name FROM rollup_rebuilders ORDER BY ord LOOP
        EXECUTE format('SELECT %I()', f);
    END LOOP;
    RETURN made;
END $$;

-- mailpulse_rebuild_domain_rollups - the hour rows from the events; the day rows (over all
-- hosts, and per host) from the hours, the month rows from the days. As in "rollups", the
-- hours older than the oldest event keep their rows, and so do the days before its day and
-- the months before its month. Each table is written in time order.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_domain_rollups()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    first_day timestamptz;
    first_month timestamptz;
BEGIN
    SELECT date_trunc('hour', min(time), 'UTC') INTO oldest FROM facts;
    IF oldest IS NULL THEN
        RETURN;
    END IF;
    first_day := date_trunc('day', oldest, 'UTC');
    first_month := date_trunc('month', oldest, 'UTC');
    DELETE FROM rollups_domain_hour WHERE hour >= oldest;
    DELETE FROM rollups_domain_host_day WHERE day >= first_day;
    DELETE FROM rollups_domain_day WHERE day >= first_day;
    DELETE FROM rollups_domain_month WHERE month >= first_month;
    INSERT INTO rollups_domain_hour (recipient_domain, hour, host, sent, deferred, bounced,
                                     expired)
    SELECT recipient_domain, date_trunc('hour', time, 'UTC'), host,
           count(*) FILTER (WHERE kind = 'sent'), count(*) FILTER (WHERE kind = 'deferred'),
           count(*) FILTER (WHERE kind = 'bounced'), count(*) FILTER (WHERE kind = 'expired')
    FROM facts
    WHERE time IS NOT NULL AND kind IN ('sent', 'deferred', 'bounced', 'expired')
    GROUP BY 1, 2, 3 ORDER BY 2, 1, 3;
    INSERT INTO rollups_domain_host_day (recipient_domain, host, day, sent, deferred, bounced,
                                         expired)
    SELECT recipient_domain, host, date_trunc('day', hour, 'UTC'), sum(sent), sum(deferred),
           sum(bounced), sum(expired)
    FROM rollups_domain_hour WHERE hour >= first_day AND recipient_domain <> ''
    GROUP BY 1, 2, 3 ORDER BY 3, 1, 2;
    INSERT INTO rollups_domain_day (day, recipient_domain, sent, deferred, bounced, expired)
    SELECT day, recipient_domain, sum(sent), sum(deferred), sum(bounced), sum(expired)
    FROM rollups_domain_host_day WHERE day >= first_day GROUP BY 1, 2 ORDER BY 1, 2;
    INSERT INTO rollups_domain_month (month, recipient_domain, n)
    SELECT date_trunc('month', day, 'UTC'), recipient_domain, sum(n)
    FROM rollups_domain_day WHERE day >= first_month GROUP BY 1, 2 ORDER BY 1, 2;
END $$;

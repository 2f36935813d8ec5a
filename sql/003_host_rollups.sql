-- 003_host_rollups - hourly counts per host x kind x reason x DSN code, without the two
-- domain dimensions of "rollups".
--
-- Sender and recipient domains multiply the rows of "rollups" (a busy host sends to
-- thousands of domains every hour), so reports that filter on neither domain (summary,
-- timeseries, reasons, /metrics) read this much smaller table instead. The ingest keeps it
-- in the same transaction as "rollups", from the same inserted rows; it always equals
-- "rollups" summed over the two domains.

CREATE TABLE rollups_host (
    hour     timestamptz NOT NULL,
    host     text NOT NULL,
    kind     text NOT NULL,
    reason   text NOT NULL,
    dsn      text NOT NULL,
    n        bigint NOT NULL,
    example  text,
    PRIMARY KEY (hour, host, kind, reason, dsn)
);

INSERT INTO rollups_host (hour, host, kind, reason, dsn, n, example)
SELECT hour, host, kind, reason, dsn, sum(n), min(example)
FROM rollups GROUP BY 1, 2, 3, 4, 5;

-- mailpulse_rebuild_rollups - as in 002, then rollups_host again from rollups.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_rollups()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    made bigint;
BEGIN
    LOCK TABLE rollups, rollups_host IN EXCLUSIVE MODE;
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
    RETURN made;
END $$;

-- 026_provider_minute - attempts per minute, host and mailbox provider.
--
-- /api/v1/timeseries?by=provider&bucket=minute read every attempt of its range: a day of
-- minute buckets is every attempt of the day, which grows with the traffic. This rollup holds
-- the whole minutes; the events answer only the partial minutes at the two ends. A row per
-- minute, host and provider with attempts: a few dozen a minute whatever the volume.
CREATE TABLE rollups_provider_minute (
    minute    timestamptz NOT NULL,
    host      text NOT NULL,
    provider  text NOT NULL,
    sent      integer NOT NULL DEFAULT 0,
    deferred  integer NOT NULL DEFAULT 0,
    bounced   integer NOT NULL DEFAULT 0,
    expired   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, host, provider)
);

-- mailpulse_rebuild_provider_minute - the rollup again from the events, in time order. Minutes
-- older than the oldest attempt (their partitions dropped) keep their rows, as in "rollups".
CREATE FUNCTION mailpulse_rebuild_provider_minute()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
BEGIN
    LOCK TABLE rollups_provider_minute IN EXCLUSIVE MODE;
    SELECT date_trunc('minute', min(time), 'UTC') INTO oldest FROM deliveries;
    IF oldest IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM rollups_provider_minute WHERE minute >= oldest;
    INSERT INTO rollups_provider_minute (minute, host, provider, sent, deferred, bounced, expired)
    SELECT date_trunc('minute', time, 'UTC'), host, provider,
           count(*) FILTER (WHERE status = 'sent'),
           count(*) FILTER (WHERE status = 'deferred'),
           count(*) FILTER (WHERE status = 'bounced'),
           count(*) FILTER (WHERE status = 'expired')
    FROM deliveries WHERE time IS NOT NULL AND provider IS NOT NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
END $$;

INSERT INTO rollup_rebuilders (name, ord) VALUES ('mailpulse_rebuild_provider_minute', 25);
DO $$ BEGIN PERFORM mailpulse_rebuild_provider_minute(); END $$;

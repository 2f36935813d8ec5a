-- 006_providers - the mailbox provider of each delivery attempt, the blocklist or provider
-- block its reply names, and their hourly rollups.
--
-- The ingest names the provider (parser/provider.c: from the relay host, then the recipient
-- domain; one of a bounded set of short names such as "google", "microsoft", "other") and
-- the block rule (block_match() over the reply: "Spamhaus ZEN", "Microsoft S3140") of every
-- delivery and reject, and stores both beside the reply. Rows stored before this migration
-- keep NULL in both and are not counted below.
--
--   rollups_provider_hour  per UTC hour x host x provider: sent, deferred, bounced and
--                          expired delivery attempts.
--   rollups_block_hour     per UTC hour x host x provider x block rule: n, the deliveries
--                          and rejects whose reply names that block.
--
-- Both are kept by the ingest in the transaction that keeps "rollups", from the same inserted
-- rows. Their names and columns are read by other code (the alert rules): keep them.

ALTER TABLE deliveries ADD COLUMN provider text;
ALTER TABLE deliveries ADD COLUMN block text;
ALTER TABLE rejects ADD COLUMN provider text;
ALTER TABLE rejects ADD COLUMN block text;

CREATE TABLE rollups_provider_hour (
    hour      timestamptz NOT NULL,
    host      text NOT NULL,
    provider  text NOT NULL,
    sent      integer NOT NULL DEFAULT 0,
    deferred  integer NOT NULL DEFAULT 0,
    bounced   integer NOT NULL DEFAULT 0,
    expired   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, host, hour)
);
CREATE INDEX rollups_provider_hour_hour_idx ON rollups_provider_hour (hour);

CREATE TABLE rollups_block_hour (
    hour      timestamptz NOT NULL,
    host      text NOT NULL,
    provider  text NOT NULL,
    block     text NOT NULL,
    n         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (block, host, provider, hour)
);
CREATE INDEX rollups_block_hour_hour_idx ON rollups_block_hour (hour);

-- mailpulse_rebuild_provider_rollups - the two tables again from the events. Hours older
-- than the oldest event (their partitions dropped) keep their rows, as in "rollups".
CREATE FUNCTION mailpulse_rebuild_provider_rollups()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
BEGIN
    LOCK TABLE rollups_provider_hour, rollups_block_hour IN EXCLUSIVE MODE;
    SELECT date_trunc('hour', least(
               (SELECT min(time) FROM deliveries), (SELECT min(time) FROM rejects)), 'UTC')
        INTO oldest;
    IF oldest IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM rollups_provider_hour WHERE hour >= oldest;
    DELETE FROM rollups_block_hour WHERE hour >= oldest;
    INSERT INTO rollups_provider_hour (hour, host, provider, sent, deferred, bounced, expired)
    SELECT date_trunc('hour', time, 'UTC'), host, provider,
           count(*) FILTER (WHERE status = 'sent'),
           count(*) FILTER (WHERE status = 'deferred'),
           count(*) FILTER (WHERE status = 'bounced'),
           count(*) FILTER (WHERE status = 'expired')
    FROM deliveries WHERE time IS NOT NULL AND provider IS NOT NULL
    GROUP BY 1, 2, 3;
    INSERT INTO rollups_block_hour (hour, host, provider, block, n)
    SELECT date_trunc('hour', time, 'UTC'), host, coalesce(provider, 'other'), block, count(*)
    FROM (SELECT time, host, provider, block FROM deliveries WHERE block IS NOT NULL
          UNION ALL
          SELECT time, host, provider, block FROM rejects WHERE block IS NOT NULL) b
    WHERE time IS NOT NULL
    GROUP BY 1, 2, 3, 4;
END $$;

-- mailpulse_rebuild_rollups - as in 005, then the provider rollups.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_rollups()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    made bigint;
BEGIN
    LOCK TABLE rollups, rollups_host, rollups_host_minute, rollups_domain_day,
        rollups_domain_month IN EXCLUSIVE MODE;
    SELECT date_trunc('hour', min(time), 'UTC') INTO oldest FROM facts;
    IF oldest IS NOT NULL THEN
        DELETE FROM rollups WHERE hour >= oldest;
        DELETE FROM rollups_host_minute WHERE minute >= oldest;
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
    INSERT INTO rollups_host_minute (minute, host, kind, reason, dsn, n, example)
    SELECT date_trunc('minute', time, 'UTC'), host, kind, reason, dsn, count(*), min(reply)
    FROM facts WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5;
    PERFORM mailpulse_rebuild_domain_rollups();
    PERFORM mailpulse_rebuild_provider_rollups();
    RETURN made;
END $$;

-- The few attempts and rejects that name a block, by time: what /api/v1/blocks reads.
CREATE INDEX deliveries_block_time_idx ON deliveries (time) WHERE block IS NOT NULL;
CREATE INDEX rejects_block_time_idx ON rejects (time) WHERE block IS NOT NULL;

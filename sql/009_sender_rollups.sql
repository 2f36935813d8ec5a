-- 009_sender_rollups - who submits what: each delivery attempt's submitting client and SASL
-- user, and an hourly rollup per sender domain, SASL user and client IP.
--
-- The parsers know, per queue id, the client that submitted the message and the SASL user
-- it logged in as (Postfix smtpd "client=..., sasl_username=...", Exim "<=" H= and A=,
-- Sendmail relay= and auth); they copy both into every delivery attempt of that message,
-- which stores them beside the sender. Rejects carry their client already, never a SASL
-- user. Rows stored before this migration keep NULL in both and count under the empty key.
--
--   rollups_sender_hour        per UTC hour x host x axis x key x kind x reason: n.
--                              axis is 'sender_domain', 'sasl_user' or 'client_ip'; key
--                              is the sender domain, the SASL user or the client's IP
--                              address (mailpulse_client_ip()), '' when the log did not
--                              say; kind is a delivery status or 'rejected'; reason is ''
--                              when there is none.
--   rollups_sender_day         per UTC day x host x axis x key: sent, deferred, bounced,
--                              expired, rejected. A month's range reads about a
--                              twenty-fourth of the rows of the hours, and no reason rows.
--   rollups_sender_reason_day  per UTC day x host x axis x key x reason: n, the attempts
--                              that were not sent and the rejects that have a reason; read
--                              for the few keys a report lists.
--
-- A report reads the hours of one axis in a range (the edges around the whole days), so the
-- hourly key starts with axis and hour; the ingest adds hours in time order, which keeps
-- such a range together on disk.
--
-- Every attempt and reject is counted once under each axis, so each axis adds up to the
-- same totals as "rollups". The ingest keeps the three tables in the transaction that keeps
-- "rollups", from the same inserted rows; mailpulse_rebuild_sender_rollups() recomputes them
-- (listed in rollup_rebuilders, so mailpulse_rebuild_rollups() calls it).

ALTER TABLE deliveries ADD COLUMN client text;
ALTER TABLE deliveries ADD COLUMN sasl_username text;

-- mailpulse_client_ip - the address of a client as the logs write it ("name[ip]" or
-- "name[ip]:port"): what the brackets hold, else the text itself; '' for NULL.
CREATE FUNCTION mailpulse_client_ip(c text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN c IS NULL THEN ''
                WHEN strpos(c, '[') > 0 THEN split_part(split_part(c, '[', 2), ']', 1)
                ELSE c END
$$;

CREATE TABLE rollups_sender_hour (
    hour      timestamptz NOT NULL,
    host      text NOT NULL,
    axis      text NOT NULL CHECK (axis IN ('sender_domain', 'sasl_user', 'client_ip')),
    key       text NOT NULL,
    kind      text NOT NULL,
    reason    text NOT NULL,
    n         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (axis, hour, key, host, kind, reason)
);

CREATE TABLE rollups_sender_day (
    day       timestamptz NOT NULL,
    host      text NOT NULL,
    axis      text NOT NULL CHECK (axis IN ('sender_domain', 'sasl_user', 'client_ip')),
    key       text NOT NULL,
    sent      integer NOT NULL DEFAULT 0,
    deferred  integer NOT NULL DEFAULT 0,
    bounced   integer NOT NULL DEFAULT 0,
    expired   integer NOT NULL DEFAULT 0,
    rejected  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (axis, day, key, host)
);

CREATE TABLE rollups_sender_reason_day (
    day       timestamptz NOT NULL,
    host      text NOT NULL,
    axis      text NOT NULL CHECK (axis IN ('sender_domain', 'sasl_user', 'client_ip')),
    key       text NOT NULL,
    reason    text NOT NULL,
    n         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (axis, key, day, host, reason)
);

-- mailpulse_rebuild_sender_rollups - the table again from the events. Hours older than the
-- oldest event (their partitions dropped) keep their rows, as in "rollups".
CREATE FUNCTION mailpulse_rebuild_sender_rollups()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
BEGIN
    LOCK TABLE rollups_sender_hour, rollups_sender_day, rollups_sender_reason_day
        IN EXCLUSIVE MODE;
    SELECT date_trunc('hour', least(
               (SELECT min(time) FROM deliveries), (SELECT min(time) FROM rejects)), 'UTC')
        INTO oldest;
    IF oldest IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM rollups_sender_hour WHERE hour >= oldest;
    DELETE FROM rollups_sender_day WHERE day >= date_trunc('day', oldest, 'UTC');
    DELETE FROM rollups_sender_reason_day WHERE day >= date_trunc('day', oldest, 'UTC');
    INSERT INTO rollups_sender_hour (hour, host, axis, key, kind, reason, n)
    SELECT date_trunc('hour', e.time, 'UTC'), e.host, g.axis, g.key, e.kind, e.reason,
           count(*)
    FROM (SELECT time, host, coalesce(sender_domain, '') AS sd, client,
                 coalesce(sasl_username, '') AS sasl, status AS kind,
                 coalesce(reason, '') AS reason
          FROM deliveries WHERE time IS NOT NULL
          UNION ALL
          SELECT time, host, coalesce(sender_domain, ''), client, '', 'rejected',
                 coalesce(reason, '')
          FROM rejects WHERE time IS NOT NULL) e
    CROSS JOIN LATERAL (VALUES ('sender_domain', e.sd), ('sasl_user', e.sasl),
                               ('client_ip', mailpulse_client_ip(e.client))) g (axis, key)
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 3, 1, 4, 2, 5, 6;
    -- The first day may have lost hours to retention: its rows come from the hours kept.
    INSERT INTO rollups_sender_day (day, host, axis, key, sent, deferred, bounced, expired,
                                    rejected)
    SELECT date_trunc('day', hour, 'UTC'), host, axis, key,
           coalesce(sum(n) FILTER (WHERE kind = 'sent'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'deferred'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'bounced'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'expired'), 0),
           coalesce(sum(n) FILTER (WHERE kind = 'rejected'), 0)
    FROM rollups_sender_hour WHERE hour >= date_trunc('day', oldest, 'UTC')
    GROUP BY 1, 2, 3, 4;
    INSERT INTO rollups_sender_reason_day (day, host, axis, key, reason, n)
    SELECT date_trunc('day', hour, 'UTC'), host, axis, key, reason, sum(n)
    FROM rollups_sender_hour
    WHERE hour >= date_trunc('day', oldest, 'UTC') AND kind <> 'sent' AND reason <> ''
    GROUP BY 1, 2, 3, 4, 5;
END $$;

-- mailpulse_rebuild_rollups() rebuilds the sender rollups after the others.
INSERT INTO rollup_rebuilders (name, ord) VALUES ('mailpulse_rebuild_sender_rollups', 90);

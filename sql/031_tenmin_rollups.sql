-- 031_tenmin_rollups - per-key counts per ten minutes, made once a ten minutes has passed.
--
-- The reports keyed by recipient domain (the domains report, the dashboard's) and by sender
-- (senders by sender domain, SASL user, client) read the partial hours at the two ends of a
-- range from the events: up to half an hour at each end (db_range_units()), so their cost
-- grows with the traffic per hour: at 100M attempts a month an end holds up to 70,000
-- attempts. These tables hold the same counts per ten minutes, so that an end reads whole
-- ten-minute buckets here and at most five minutes of events.
--
--   rollups_domain_tenmin   per recipient domain x ten minutes x host: sent, deferred,
--                           bounced, expired (as rollups_domain_hour, '' included).
--   rollups_sender_tenmin   per axis x ten minutes x key x host x kind x reason: n (as
--                           rollups_sender_hour; the messages received count under the
--                           sender domain axis only, kind 'received', for the summary of
--                           one sender domain).
--
-- Over a long tail almost every (ten minutes, domain) pair is new, so writing these rows with
-- every import transaction would upsert about one more row per two attempts. Instead a bucket
-- is added up from its events once, after it has passed: tenmin_rolled.through is the time
-- before which every bucket is complete. mailpulse_roll_tenmin() moves it on, a span at a
-- time; an event stored later for a time before it (a late line, an older log imported) is
-- added by the transaction that stores it, as a row of its own (db/ingest.c). A reader takes a bucket
-- from these tables only when it lies before "through", and reads the events otherwise.
--
-- The lock protocol: a writing transaction takes ROW EXCLUSIVE on tenmin_rolled before it
-- reads "through", and holds it to its end; mailpulse_roll_tenmin() takes SHARE ROW EXCLUSIVE,
-- which waits for every such transaction to end, so that the events it adds up are all there,
-- and makes the next ones wait until the new "through" is committed.
--
-- Buckets older than the oldest event (their partitions dropped) keep their rows, as in the
-- other rollups.

-- A key may have several rows in a bucket (the bucket's sum, then what late events added):
-- readers add them up. So no unique key: each table has only an index on its buckets, whose
-- keys repeat (B-tree deduplication packs them: 29 MB for 4.3M domain rows at 10M attempts,
-- where one by recipient domain and bucket took 257), and the counts come first, where they
-- need no padding. The domains report reads its candidates' rows among all the rows of the
-- few buckets at an end (about 1.1 ms more than through the domain's key at 10M attempts).
CREATE TABLE rollups_domain_tenmin (
    tenmin            timestamptz NOT NULL,
    sent              integer NOT NULL DEFAULT 0,
    deferred          integer NOT NULL DEFAULT 0,
    bounced           integer NOT NULL DEFAULT 0,
    expired           integer NOT NULL DEFAULT 0,
    recipient_domain  text NOT NULL,
    host              text NOT NULL
);
CREATE INDEX rollups_domain_tenmin_idx ON rollups_domain_tenmin (tenmin);

CREATE TABLE rollups_sender_tenmin (
    tenmin    timestamptz NOT NULL,
    n         integer NOT NULL DEFAULT 0,
    host      text NOT NULL,
    axis      text NOT NULL CHECK (axis IN ('sender_domain', 'sasl_user', 'client_ip')),
    key       text NOT NULL,
    kind      text NOT NULL,
    reason    text NOT NULL
);
CREATE INDEX rollups_sender_tenmin_idx ON rollups_sender_tenmin (axis, tenmin);

CREATE TABLE tenmin_rolled (
    through  timestamptz NOT NULL
);
INSERT INTO tenmin_rolled VALUES ('-infinity');

-- mailpulse_tenmin - the start of the ten minutes (UTC) holding t
CREATE FUNCTION mailpulse_tenmin(t timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('10 minutes', t, timestamptz '2000-01-01 00:00:00+00')
$$;

-- mailpulse_tenmin_add - the events of [p_from, p_to) added up into both tables
CREATE FUNCTION mailpulse_tenmin_add(p_from timestamptz, p_to timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_domain_tenmin (recipient_domain, tenmin, host, sent, deferred, bounced,
                                       expired)
    SELECT coalesce(recipient_domain, ''), mailpulse_tenmin(time), host,
           count(*) FILTER (WHERE status = 'sent'),
           count(*) FILTER (WHERE status = 'deferred'),
           count(*) FILTER (WHERE status = 'bounced'),
           count(*) FILTER (WHERE status = 'expired')
    FROM deliveries WHERE time >= p_from AND time < p_to
    GROUP BY 1, 2, 3 ORDER BY 2, 1, 3;
    INSERT INTO rollups_sender_tenmin (tenmin, host, axis, key, kind, reason, n)
    SELECT mailpulse_tenmin(e.time), e.host, g.axis, g.key, e.kind, e.reason, count(*)
    FROM (SELECT time, host, coalesce(sender_domain, '') AS sd, client,
                 coalesce(sasl_username, '') AS sasl, status AS kind,
                 coalesce(reason, '') AS reason
          FROM deliveries WHERE time >= p_from AND time < p_to
          UNION ALL
          SELECT time, host, coalesce(sender_domain, ''), client, '', 'rejected',
                 coalesce(reason, '')
          FROM rejects WHERE time >= p_from AND time < p_to
          UNION ALL
          SELECT time, host, coalesce(sender_domain, ''), NULL, NULL, 'received', ''
          FROM messages WHERE time >= p_from AND time < p_to
          AND (coalesce(sender, '') <> '' OR coalesce(client, '') <> '')) e
    CROSS JOIN LATERAL (VALUES ('sender_domain', e.sd), ('sasl_user', e.sasl),
                               ('client_ip', mailpulse_client_ip(e.client))) g (axis, key)
    WHERE e.kind <> 'received' OR g.axis = 'sender_domain'
    GROUP BY 3, 1, 4, 2, 5, 6 ORDER BY 1, 3, 4, 2, 5, 6;
END $$;

-- mailpulse_roll_tenmin - the buckets after "through" and before p_until (rounded down to ten
-- minutes) added up, at most p_span of them from the first event after "through"; returns the
-- new "through". Buckets without events are passed over.
CREATE FUNCTION mailpulse_roll_tenmin(p_until timestamptz, p_span interval)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    w timestamptz;
    first timestamptz;
    target timestamptz := mailpulse_tenmin(p_until);
    nxt timestamptz;
BEGIN
    -- A writer that holds its transaction open must not stop every other one behind this.
    SET LOCAL lock_timeout = '5s';
    LOCK TABLE tenmin_rolled IN SHARE ROW EXCLUSIVE MODE;
    SELECT through INTO w FROM tenmin_rolled;
    IF w >= target THEN
        RETURN w;
    END IF;
    SELECT mailpulse_tenmin(least((SELECT min(time) FROM deliveries WHERE time >= w),
                                  (SELECT min(time) FROM rejects WHERE time >= w),
                                  (SELECT min(time) FROM messages WHERE time >= w)))
        INTO first;
    IF first IS NULL OR first >= target THEN
        nxt := target;
    ELSE
        nxt := least(target, greatest(w, first) + p_span);
        PERFORM mailpulse_tenmin_add(greatest(w, first), nxt);
    END IF;
    UPDATE tenmin_rolled SET through = nxt;
    RETURN nxt;
END $$;

-- mailpulse_rebuild_tenmin - both tables again from the events, up to the "through" they had.
CREATE FUNCTION mailpulse_rebuild_tenmin()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    w timestamptz;
BEGIN
    LOCK TABLE tenmin_rolled IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE rollups_domain_tenmin, rollups_sender_tenmin IN EXCLUSIVE MODE;
    SELECT through INTO w FROM tenmin_rolled;
    SELECT mailpulse_tenmin(least((SELECT min(time) FROM deliveries),
                                  (SELECT min(time) FROM rejects),
                                  (SELECT min(time) FROM messages)))
        INTO oldest;
    IF oldest IS NULL OR oldest >= w THEN
        RETURN;
    END IF;
    DELETE FROM rollups_domain_tenmin WHERE tenmin >= oldest;
    DELETE FROM rollups_sender_tenmin WHERE tenmin >= oldest;
    PERFORM mailpulse_tenmin_add(oldest, w);
END $$;

INSERT INTO rollup_rebuilders (name, ord) VALUES ('mailpulse_rebuild_tenmin', 95);

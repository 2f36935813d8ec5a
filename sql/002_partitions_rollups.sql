-- 002_partitions_rollups - event tables partitioned by month, sniffed SMTP events, hourly
-- rollups, and the functions that keep partitions ahead of the data and drop expired ones.
--
-- Partitioning. messages, deliveries, rejects, bounce_notices and smtp_events are
-- partitioned by range of "time", one partition per calendar month (UTC), named
-- TABLE_pYYYYMM. A row whose time is unknown (NULL) goes to TABLE_pnull, the default
-- partition; nothing else may land there, so the ingest path calls
-- mailpulse_ensure_partitions(min, max) for the times of a batch before inserting it, and
-- startup calls it for this month and the next. Retention drops whole months:
-- mailpulse_drop_partitions(cutoff) drops the partitions that end at or before cutoff.
--
-- Exactly once. A unique key on a partitioned table must contain the partition key, so the
-- key is (source_id, pos, seq, time). A replayed line parses to the same time and lands on
-- the same partition, where the key still finds it. NULLS NOT DISTINCT makes a replayed line
-- without a time a duplicate too (by default two NULLs would differ).
--
-- Rollups. rollups holds counts per hour x host x sender domain x recipient domain x kind
-- x reason x DSN code, where kind is a delivery status or 'received' (messages) or
-- 'rejected' (rejects), with one example reply per row. The ingest adds the rows it really
-- inserted (INSERT ... RETURNING, so duplicates add nothing) in the same transaction. The
-- view facts is every event in the shape of a rollup row (n = 1): reports add the partial
-- hours at the edges of a range from it, and mailpulse_rebuild_rollups() recomputes from it.
--
-- Citus. source_id is the distribution column of the event tables (the unique key holds
-- it, and a source's rows live together); rollups distribute by host; sources is a
-- reference table.

-- The old tables keep their data until it has moved; their constraint and index names are
-- needed by the new tables, so those are created after the old tables are gone.
ALTER TABLE messages RENAME TO messages_001;
ALTER TABLE deliveries RENAME TO deliveries_001;
ALTER TABLE rejects RENAME TO rejects_001;
ALTER TABLE bounce_notices RENAME TO bounce_notices_001;

CREATE TABLE messages (
    time            timestamptz,
    host            text NOT NULL DEFAULT '',
    mta             text,
    queue_id        text,
    message_id      text,
    sender          text,
    sender_domain   text,               -- lower case, after the last '@'
    size            bigint,
    nrcpt           integer,
    client          text,
    sasl_username   text,
    truncated       boolean NOT NULL DEFAULT false,
    source_id       bigint NOT NULL,
    pos             bigint NOT NULL,
    seq             integer NOT NULL DEFAULT 0
) PARTITION BY RANGE (time);

CREATE TABLE deliveries (
    time              timestamptz,
    host              text NOT NULL DEFAULT '',
    mta               text,
    queue_id          text,
    message_id        text,
    sender            text,
    sender_domain     text,
    recipient         text,
    orig_recipient    text,
    recipient_domain  text,
    relay             text,
    delay             double precision,
    delays            double precision[],
    status            text NOT NULL CHECK (status IN ('sent', 'deferred', 'bounced', 'expired')),
    dsn               text,
    smtp_code         integer,
    reply             text,
    reason            text,
    hard              boolean NOT NULL DEFAULT false,
    truncated         boolean NOT NULL DEFAULT false,
    source_id         bigint NOT NULL,
    pos               bigint NOT NULL,
    seq               integer NOT NULL DEFAULT 0
) PARTITION BY RANGE (time);

CREATE TABLE rejects (
    time              timestamptz,
    host              text NOT NULL DEFAULT '',
    mta               text,
    queue_id          text,
    client            text,
    helo              text,
    sender            text,
    sender_domain     text,
    recipient         text,
    recipient_domain  text,
    smtp_code         integer,
    dsn               text,
    reply             text,
    reason            text,
    truncated         boolean NOT NULL DEFAULT false,
    source_id         bigint NOT NULL,
    pos               bigint NOT NULL,
    seq               integer NOT NULL DEFAULT 0
) PARTITION BY RANGE (time);

CREATE TABLE bounce_notices (
    time             timestamptz,
    host             text NOT NULL DEFAULT '',
    mta              text,
    queue_id         text,
    notice_queue_id  text,
    truncated        boolean NOT NULL DEFAULT false,
    source_id        bigint NOT NULL,
    pos              bigint NOT NULL,
    seq              integer NOT NULL DEFAULT 0
) PARTITION BY RANGE (time);

-- One step of an SMTP conversation seen on the wire (mailpulse sniff / [sniff]).
CREATE TABLE smtp_events (
    time        timestamptz,
    host        text NOT NULL DEFAULT '',
    client      text,                   -- ip:port
    server      text,                   -- ip:port
    helo        text,
    sender      text,
    recipient   text,
    stage       text,                   -- connect, helo, mail, rcpt, data, starttls
    smtp_code   integer,
    dsn         text,
    reply       text,
    queue_id    text,
    tls         boolean NOT NULL DEFAULT false,
    truncated   boolean NOT NULL DEFAULT false,
    source_id   bigint NOT NULL,
    pos         bigint NOT NULL,
    seq         integer NOT NULL DEFAULT 0
) PARTITION BY RANGE (time);

CREATE TABLE messages_pnull PARTITION OF messages DEFAULT;
CREATE TABLE deliveries_pnull PARTITION OF deliveries DEFAULT;
CREATE TABLE rejects_pnull PARTITION OF rejects DEFAULT;
CREATE TABLE bounce_notices_pnull PARTITION OF bounce_notices DEFAULT;
CREATE TABLE smtp_events_pnull PARTITION OF smtp_events DEFAULT;

CREATE TABLE rollups (
    hour              timestamptz NOT NULL,
    host              text NOT NULL,
    sender_domain     text NOT NULL,     -- '' when unknown
    recipient_domain  text NOT NULL,     -- '' for received, and when unknown
    kind              text NOT NULL,     -- received sent deferred bounced expired rejected
    reason            text NOT NULL,
    dsn               text NOT NULL,
    n                 bigint NOT NULL,
    example           text,              -- one reply of this row (not for sent, received)
    PRIMARY KEY (hour, host, sender_domain, recipient_domain, kind, reason, dsn)
);
CREATE INDEX rollups_host_hour_idx ON rollups (host, hour);

-- mailpulse_ensure_partitions - monthly partitions of every event table covering
-- [p_from, p_to]; returns how many it created. Concurrent callers serialize on a lock.
CREATE FUNCTION mailpulse_ensure_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', p_from AT TIME ZONE 'UTC');
    stop timestamp := p_to AT TIME ZONE 'UTC';
    t text;
    part text;
    made integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RETURN 0;
    END IF;
    -- The common case, every partition there: no lock, so concurrent ingests do not wait.
    WHILE m <= stop LOOP
        EXIT WHEN to_regclass(quote_ident('smtp_events_p' || to_char(m, 'YYYYMM'))) IS NULL;
        m := m + interval '1 month';
    END LOOP;
    IF m > stop THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7236051970);
    WHILE m <= stop LOOP
        FOREACH t IN ARRAY ARRAY['messages', 'deliveries', 'rejects', 'bounce_notices',
                                 'smtp_events'] LOOP
            part := t || '_p' || to_char(m, 'YYYYMM');
            IF to_regclass(quote_ident(part)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, t, m AT TIME ZONE 'UTC',
                               (m + interval '1 month') AT TIME ZONE 'UTC');
                made := made + 1;
            END IF;
        END LOOP;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END $$;

-- mailpulse_drop_partitions - drop the monthly partitions that end at or before p_cutoff;
-- returns how many it dropped. Rollups are kept: they are small and carry the history.
CREATE FUNCTION mailpulse_drop_partitions(p_cutoff timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7236051970);
    FOR r IN
        SELECT c.relname, n.nspname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.oid IN (to_regclass('messages'), to_regclass('deliveries'),
                        to_regclass('rejects'), to_regclass('bounce_notices'),
                        to_regclass('smtp_events'))
          AND c.relname ~ '_p[0-9]{6}$'
        ORDER BY c.relname
    LOOP
        IF (to_timestamp(right(r.relname, 6), 'YYYYMM')::timestamp + interval '1 month')
               AT TIME ZONE 'UTC' <= p_cutoff THEN
            EXECUTE format('DROP TABLE %I.%I', r.nspname, r.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

-- Every event in the shape of a rollup row.
CREATE VIEW facts AS
    SELECT time, host, coalesce(sender_domain, '') AS sender_domain,
           '' AS recipient_domain, 'received' AS kind, '' AS reason, '' AS dsn,
           NULL::text AS reply
    FROM messages
    UNION ALL
    SELECT time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), status,
           coalesce(reason, ''), coalesce(dsn, ''), CASE WHEN status <> 'sent' THEN reply END
    FROM deliveries
    UNION ALL
    SELECT time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), 'rejected',
           coalesce(reason, ''), coalesce(dsn, ''), reply
    FROM rejects;

-- mailpulse_rebuild_rollups - recompute the rollups from the events. Hours older than the
-- oldest event (their events dropped by retention) keep the rollups they have.
CREATE FUNCTION mailpulse_rebuild_rollups()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    made bigint;
BEGIN
    LOCK TABLE rollups IN EXCLUSIVE MODE;
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
    RETURN made;
END $$;

-- Move the rows of 001's tables.
DO $$ BEGIN
    PERFORM mailpulse_ensure_partitions(min(t), max(t)) FROM (
        SELECT time AS t FROM messages_001 UNION ALL SELECT time FROM deliveries_001
        UNION ALL SELECT time FROM rejects_001 UNION ALL SELECT time FROM bounce_notices_001) x;
END $$;

INSERT INTO messages (time, host, mta, queue_id, message_id, sender, sender_domain, size, nrcpt,
                      client, sasl_username, truncated, source_id, pos, seq)
SELECT time, host, mta, queue_id, message_id, sender,
       nullif(lower(substring(sender FROM '@([^@]*)$')), ''), size, nrcpt, client,
       sasl_username, truncated, source_id, pos, seq
FROM messages_001;
INSERT INTO deliveries (time, host, mta, queue_id, message_id, sender, sender_domain, recipient,
                        orig_recipient, recipient_domain, relay, delay, delays, status, dsn,
                        smtp_code, reply, reason, hard, truncated, source_id, pos, seq)
SELECT time, host, mta, queue_id, message_id, sender,
       nullif(lower(substring(sender FROM '@([^@]*)$')), ''), recipient, orig_recipient,
       recipient_domain, relay, delay, delays, status, dsn, smtp_code, reply, reason, hard,
       truncated, source_id, pos, seq
FROM deliveries_001;
INSERT INTO rejects (time, host, mta, queue_id, client, helo, sender, sender_domain, recipient,
                     recipient_domain, smtp_code, dsn, reply, reason, truncated, source_id, pos,
                     seq)
SELECT time, host, mta, queue_id, client, helo, sender,
       nullif(lower(substring(sender FROM '@([^@]*)$')), ''), recipient,
       nullif(lower(substring(recipient FROM '@([^@]*)$')), ''), smtp_code, dsn, reply, reason,
       truncated, source_id, pos, seq
FROM rejects_001;
INSERT INTO bounce_notices (time, host, mta, queue_id, notice_queue_id, truncated, source_id,
                            pos, seq)
SELECT time, host, mta, queue_id, notice_queue_id, truncated, source_id, pos, seq
FROM bounce_notices_001;

DROP TABLE messages_001, deliveries_001, rejects_001, bounce_notices_001;

ALTER TABLE messages ADD CONSTRAINT messages_position_key
    UNIQUE NULLS NOT DISTINCT (source_id, pos, seq, time);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_position_key
    UNIQUE NULLS NOT DISTINCT (source_id, pos, seq, time);
ALTER TABLE rejects ADD CONSTRAINT rejects_position_key
    UNIQUE NULLS NOT DISTINCT (source_id, pos, seq, time);
ALTER TABLE bounce_notices ADD CONSTRAINT bounce_notices_position_key
    UNIQUE NULLS NOT DISTINCT (source_id, pos, seq, time);
ALTER TABLE smtp_events ADD CONSTRAINT smtp_events_position_key
    UNIQUE NULLS NOT DISTINCT (source_id, pos, seq, time);

CREATE INDEX deliveries_time_idx ON deliveries (time);
CREATE INDEX deliveries_queue_id_idx ON deliveries (queue_id);
CREATE INDEX deliveries_message_id_idx ON deliveries (message_id);
CREATE INDEX deliveries_recipient_idx ON deliveries (recipient);
CREATE INDEX messages_time_idx ON messages (time);
CREATE INDEX messages_queue_id_idx ON messages (queue_id);
CREATE INDEX messages_message_id_idx ON messages (message_id);
CREATE INDEX rejects_time_idx ON rejects (time);
CREATE INDEX rejects_recipient_idx ON rejects (recipient);
CREATE INDEX rejects_queue_id_idx ON rejects (queue_id);
CREATE INDEX bounce_notices_queue_id_idx ON bounce_notices (queue_id);
CREATE INDEX smtp_events_time_idx ON smtp_events (time);

-- The last statement must not return rows (the migrator expects a command).
DO $$ BEGIN PERFORM mailpulse_rebuild_rollups(); END $$;

-- 007_bounce_reports - what arrives by mail: DSN recipients and ARF complaints, their
-- rollups, and the suppression list.
--
--   dsn_reports    one row per recipient of a bounce (RFC 3464 or a recognised non-standard
--                  form): action, status, diagnostic, reason, and "link", what the delivery
--                  log said about the same message and recipient when the row was stored:
--                    logged   the log has it bounced or expired: the DSN is the MTA's own
--                             notice of a failure already counted
--                    async    the log has it sent (the next hop accepted it and bounced later):
--                             an asynchronous bounce
--                    unseen   no delivery of that Message-ID to that recipient is known: counted
--                             as an asynchronous bounce too
--                    delayed  the action is not "failed" (delayed, relayed, delivered, expanded)
--   complaints     one row per ARF feedback report.
--
-- A DSN is linked to its delivery by mailpulse_dsn_delivery(): the same Message-ID attempted
-- from 45 days before the report to a day after it (reports come within the queue lifetime),
-- or, when it returned no Message-ID, the latest delivery to its recipient in the 45 days
-- before it. A complaint, to a sent delivery of its Message-ID in the same window.
--
-- Both are keyed by the message they came from: msg_key is a hash of its bytes (carriage
-- returns and trailing white space left out), seq the record's number in it. The same message read twice (a Maildir file read again
-- after a crash, a file imported twice, the same report in an mbox and a Maildir) inserts
-- nothing the second time. The time is the report message's Date header, else the last
-- attempt or arrival date it states, else when the file was written.
--
--   rollups_complaint_hour  per UTC hour x sender domain x feedback type x host: n
--   rollups_dsn_hour        per UTC hour x host x sender domain x recipient domain x link:
--                           n, and hard (the failed, permanent ones)
--   suppressions            per recipient and sender domain: the last hard failure (a hard
--                           bounce in the log, a failed hard DSN, a complaint), removed when
--                           a later delivery to the recipient is sent.
--
-- The event tables that are partitioned by month are listed in partitioned_tables, which
-- mailpulse_ensure_partitions() and mailpulse_drop_partitions() now read, and the rollup
-- rebuild functions in rollup_rebuilders, which mailpulse_rebuild_rollups() now calls: a later
-- table or rollup joins by one INSERT.

CREATE TABLE partitioned_tables (
    name  text PRIMARY KEY
);
INSERT INTO partitioned_tables (name)
VALUES ('messages'), ('deliveries'), ('rejects'), ('bounce_notices'), ('smtp_events'),
       ('dsn_reports'), ('complaints');

CREATE TABLE dsn_reports (
    time              timestamptz NOT NULL,
    family            text NOT NULL,          -- the recogniser: rfc3464, qmail, exchange, ...
    recipient         text NOT NULL,          -- lower case
    orig_recipient    text,
    recipient_domain  text NOT NULL DEFAULT '',
    action            text NOT NULL,
    dsn               text,
    smtp_code         integer,
    diagnostic        text,
    reason            text NOT NULL DEFAULT '',
    hard              boolean NOT NULL DEFAULT false,
    remote_mta        text,
    reporting_mta     text,
    arrival           timestamptz,
    last_attempt      timestamptz,
    message_id        text,                   -- with its angle brackets, as the logs give it
    sender            text,
    sender_domain     text NOT NULL DEFAULT '',
    subject           text,
    link              text NOT NULL CHECK (link IN ('logged', 'async', 'unseen', 'delayed')),
    host              text NOT NULL DEFAULT '', -- the host of the matched delivery
    queue_id          text,                   -- and its queue id
    source_id         bigint NOT NULL REFERENCES sources (id),
    msg_key           bigint NOT NULL,
    seq               integer NOT NULL,
    UNIQUE (msg_key, seq, time)
) PARTITION BY RANGE (time);

CREATE TABLE complaints (
    time              timestamptz NOT NULL,
    feedback_type     text NOT NULL,
    recipient         text,                   -- the complaining recipient, lower case, if given
    recipient_domain  text NOT NULL DEFAULT '',
    sender            text,                   -- the complained-about message's mail-from
    sender_domain     text NOT NULL DEFAULT '',
    source_ip         text,
    reporting_mta     text,
    user_agent        text,
    arrival           timestamptz,
    message_id        text,
    subject           text,
    host              text NOT NULL DEFAULT '', -- the host that sent the message, when matched
    queue_id          text,
    source_id         bigint NOT NULL REFERENCES sources (id),
    msg_key           bigint NOT NULL,
    seq               integer NOT NULL,
    UNIQUE (msg_key, seq, time)
) PARTITION BY RANGE (time);

CREATE TABLE dsn_reports_pnull PARTITION OF dsn_reports DEFAULT;
CREATE TABLE complaints_pnull PARTITION OF complaints DEFAULT;
CREATE INDEX dsn_reports_time_idx ON dsn_reports (time);
CREATE INDEX dsn_reports_message_id_idx ON dsn_reports (message_id);
CREATE INDEX dsn_reports_recipient_idx ON dsn_reports (recipient);
CREATE INDEX dsn_reports_domain_time_idx ON dsn_reports (recipient_domain, time);
CREATE INDEX complaints_time_idx ON complaints (time);
CREATE INDEX complaints_message_id_idx ON complaints (message_id);

CREATE TABLE rollups_complaint_hour (
    hour           timestamptz NOT NULL,
    sender_domain  text NOT NULL,
    feedback_type  text NOT NULL,
    host           text NOT NULL DEFAULT '',
    n              integer NOT NULL DEFAULT 0,
    PRIMARY KEY (sender_domain, feedback_type, host, hour)
);
CREATE INDEX rollups_complaint_hour_hour_idx ON rollups_complaint_hour (hour);

CREATE TABLE rollups_dsn_hour (
    hour              timestamptz NOT NULL,
    host              text NOT NULL,
    sender_domain     text NOT NULL,
    recipient_domain  text NOT NULL,
    link              text NOT NULL,
    n                 integer NOT NULL DEFAULT 0,
    hard              integer NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, host, sender_domain, recipient_domain, link)
);

CREATE TABLE suppressions (
    recipient      text NOT NULL,
    sender_domain  text NOT NULL,
    last_time      timestamptz NOT NULL,
    origin         text NOT NULL CHECK (origin IN ('log', 'dsn', 'complaint')),
    reason         text NOT NULL DEFAULT '',
    dsn            text,
    reply          text,
    n              integer NOT NULL DEFAULT 1,
    PRIMARY KEY (recipient, sender_domain)
);
CREATE INDEX suppressions_time_idx ON suppressions (last_time);

-- mailpulse_ensure_partitions - as in 002, over the tables in partitioned_tables.
CREATE OR REPLACE FUNCTION mailpulse_ensure_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    tables text[] := ARRAY(SELECT name FROM partitioned_tables ORDER BY name);
    first timestamp := date_trunc('month', p_from AT TIME ZONE 'UTC');
    m timestamp;
    stop timestamp := p_to AT TIME ZONE 'UTC';
    t text;
    part text;
    made integer := 0;
    missing boolean := false;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RETURN 0;
    END IF;
    -- The common case, every partition there: no lock, so concurrent ingests do not wait.
    m := first;
    WHILE m <= stop AND NOT missing LOOP
        FOREACH t IN ARRAY tables LOOP
            IF to_regclass(quote_ident(t || '_p' || to_char(m, 'YYYYMM'))) IS NULL THEN
                missing := true;
            END IF;
        END LOOP;
        m := m + interval '1 month';
    END LOOP;
    IF NOT missing THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7236051970);
    m := first;
    WHILE m <= stop LOOP
        FOREACH t IN ARRAY tables LOOP
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

-- mailpulse_drop_partitions - as in 002, over the tables in partitioned_tables.
CREATE OR REPLACE FUNCTION mailpulse_drop_partitions(p_cutoff timestamptz)
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
        WHERE p.oid IN (SELECT to_regclass(quote_ident(name)) FROM partitioned_tables)
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

-- The months the older tables have get their new siblings when a report of that month is
-- stored (db/bounces.c) or a batch of its events commits; none are made here, so that the
-- migration takes no lock per month (a long history would exhaust the lock table).

-- mailpulse_dsn_delivery - the delivery a DSN is about: the one of its Message-ID to its
-- recipient (or original recipient) attempted from 45 days before the report to a day after
-- it, bounced or expired first, else the latest; for a DSN that returned no Message-ID, the
-- latest delivery to its recipient in the 45 days before it. Deferrals are not outcomes.
-- p_raw is the recipient as the report wrote it, p_recipient in lower case. PL/pgSQL, so that
-- its plan is kept per session and prunes the monthly partitions as it runs.
CREATE FUNCTION mailpulse_dsn_delivery(p_message_id text, p_raw text, p_recipient text,
                                       p_orig text, p_time timestamptz,
                                       OUT status text, OUT host text, OUT queue_id text,
                                       OUT sender_domain text)
RETURNS SETOF record LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_message_id IS NOT NULL THEN
        RETURN QUERY
        SELECT d.status, d.host, d.queue_id, d.sender_domain FROM deliveries d
        WHERE d.message_id = p_message_id
          AND (d.recipient IN (p_raw, p_recipient) OR lower(d.recipient) = lower(p_orig))
          AND d.time >= p_time - interval '45 days' AND d.time <= p_time + interval '1 day'
          AND d.status <> 'deferred'
        ORDER BY d.status IN ('bounced', 'expired') DESC, d.time DESC LIMIT 1;
    ELSE
        RETURN QUERY
        SELECT d.status, d.host, d.queue_id, d.sender_domain FROM deliveries d
        WHERE d.recipient IN (p_raw, p_recipient)
          AND d.time >= p_time - interval '45 days' AND d.time <= p_time
          AND d.status <> 'deferred'
        ORDER BY d.time DESC LIMIT 1;
    END IF;
END $$;

-- mailpulse_rebuild_suppressions - the suppression list again from the stored outcomes: per
-- recipient and sender domain, the last hard failure, unless a delivery sent later exists.
CREATE FUNCTION mailpulse_rebuild_suppressions()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE suppressions IN EXCLUSIVE MODE;
    TRUNCATE suppressions;
    INSERT INTO suppressions (recipient, sender_domain, last_time, origin, reason, dsn, reply, n)
    SELECT DISTINCT ON (recipient, sender_domain)
           recipient, sender_domain, time, origin, reason, dsn, reply,
           count(*) OVER (PARTITION BY recipient, sender_domain)
    FROM (SELECT lower(recipient) AS recipient, coalesce(sender_domain, '') AS sender_domain,
                 time, 'log' AS origin, coalesce(reason, '') AS reason, dsn, reply
          FROM deliveries
          WHERE status IN ('bounced', 'expired') AND hard AND recipient IS NOT NULL
                AND time IS NOT NULL
          UNION ALL
          SELECT recipient, sender_domain, time, 'dsn', reason, dsn, diagnostic
          FROM dsn_reports WHERE action = 'failed' AND hard AND link <> 'logged'
          UNION ALL
          SELECT recipient, sender_domain, time, 'complaint', feedback_type, NULL, NULL
          FROM complaints WHERE recipient IS NOT NULL) f
    WHERE NOT EXISTS (SELECT 1 FROM deliveries d
                      WHERE lower(d.recipient) = f.recipient AND d.status = 'sent'
                        AND coalesce(d.sender_domain, '') = f.sender_domain
                        AND d.time > f.time)
    ORDER BY recipient, sender_domain, time DESC;
END $$;

-- mailpulse_relink_unseen - link the "unseen" DSNs since p_since (NULL: the week up to the
-- newest DSN) whose delivery has been stored since (a log read after its bounces), moving
-- their counts in rollups_dsn_hour; a DSN that turns out "logged" leaves the suppression
-- list to the log's own entry. Returns how many it linked. The daemon runs it now and then;
-- a rebuild links everything.
CREATE FUNCTION mailpulse_relink_unseen(p_since timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    done integer := 0;
BEGIN
    IF p_since IS NULL THEN
        SELECT max(time) - interval '7 days' INTO p_since FROM dsn_reports;
        IF p_since IS NULL THEN
            RETURN 0;
        END IF;
    END IF;
    FOR r IN
        UPDATE dsn_reports x
        SET link = CASE WHEN m.status IN ('bounced', 'expired') THEN 'logged' ELSE 'async' END,
            host = m.host, queue_id = m.queue_id
        FROM dsn_reports o
        CROSS JOIN LATERAL mailpulse_dsn_delivery(o.message_id, o.recipient, o.recipient,
                                                  o.orig_recipient, o.time) m
        WHERE o.link = 'unseen' AND o.time >= p_since
          AND x.msg_key = o.msg_key AND x.seq = o.seq AND x.time = o.time
        RETURNING x.time, x.host, x.sender_domain, x.recipient_domain, x.recipient, x.link,
                  x.hard
    LOOP
        UPDATE rollups_dsn_hour SET n = n - 1, hard = hard - (CASE WHEN r.hard THEN 1 ELSE 0 END)
        WHERE hour = date_trunc('hour', r.time, 'UTC') AND host = '' AND link = 'unseen'
          AND sender_domain = r.sender_domain AND recipient_domain = r.recipient_domain;
        INSERT INTO rollups_dsn_hour (hour, host, sender_domain, recipient_domain, link, n, hard)
        VALUES (date_trunc('hour', r.time, 'UTC'), r.host, r.sender_domain, r.recipient_domain,
                r.link, 1, CASE WHEN r.hard THEN 1 ELSE 0 END)
        ON CONFLICT (hour, host, sender_domain, recipient_domain, link) DO UPDATE
        SET n = rollups_dsn_hour.n + 1, hard = rollups_dsn_hour.hard + EXCLUDED.hard;
        IF r.link = 'logged' THEN
            UPDATE suppressions SET n = n - 1
            WHERE recipient = r.recipient AND sender_domain = r.sender_domain AND n > 1;
        END IF;
        done := done + 1;
    END LOOP;
    DELETE FROM rollups_dsn_hour WHERE n <= 0;
    RETURN done;
END $$;

-- mailpulse_rebuild_bounce_rollups - the DSN and complaint rollups again from their rows,
-- after linking the DSNs anew (a log read after its bounces turns "unseen" into what it
-- says), and the suppression list.
CREATE FUNCTION mailpulse_rebuild_bounce_rollups()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE rollups_complaint_hour, rollups_dsn_hour IN EXCLUSIVE MODE;
    UPDATE dsn_reports r
    SET (link, host, queue_id) =
        (SELECT CASE WHEN m.status IN ('bounced', 'expired') THEN 'logged'
                     WHEN m.status IS NOT NULL THEN 'async' ELSE 'unseen' END,
                coalesce(m.host, ''), m.queue_id
         FROM (SELECT 1) one
         LEFT JOIN LATERAL mailpulse_dsn_delivery(r.message_id, r.recipient, r.recipient,
                                                  r.orig_recipient, r.time) m ON true)
    WHERE r.link <> 'delayed';
    TRUNCATE rollups_complaint_hour, rollups_dsn_hour;
    INSERT INTO rollups_complaint_hour (hour, sender_domain, feedback_type, host, n)
    SELECT date_trunc('hour', time, 'UTC'), sender_domain, feedback_type, host, count(*)
    FROM complaints GROUP BY 1, 2, 3, 4;
    INSERT INTO rollups_dsn_hour (hour, host, sender_domain, recipient_domain, link, n, hard)
    SELECT date_trunc('hour', time, 'UTC'), host, sender_domain, recipient_domain, link,
           count(*), count(*) FILTER (WHERE hard)
    FROM dsn_reports GROUP BY 1, 2, 3, 4, 5;
    PERFORM mailpulse_rebuild_suppressions();
END $$;

-- The rollups kept beside the hourly ones, each with its rebuild function, in the order they
-- are rebuilt. mailpulse_rebuild_rollups() calls them all: a later migration adds its rollups
-- by one INSERT here instead of another copy of that function.
CREATE TABLE rollup_rebuilders (
    name  text PRIMARY KEY,
    ord   integer NOT NULL UNIQUE
);
INSERT INTO rollup_rebuilders (name, ord)
VALUES ('mailpulse_rebuild_domain_rollups', 10), ('mailpulse_rebuild_provider_rollups', 20),
       ('mailpulse_rebuild_bounce_rollups', 30);

-- mailpulse_rebuild_rollups - the hourly and minute rollups as in 006, then every function of
-- rollup_rebuilders.
CREATE OR REPLACE FUNCTION mailpulse_rebuild_rollups()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    made bigint;
    f text;
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
    FOR f IN SELECT name FROM rollup_rebuilders ORDER BY ord LOOP
        EXECUTE format('SELECT %I()', f);
    END LOOP;
    RETURN made;
END $$;

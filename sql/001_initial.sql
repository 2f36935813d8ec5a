-- 001_initial - sources with their checkpoints, and one table per kind of event.
--
-- Every event row is keyed by where it came from: (source_id, pos, seq), where pos is the
-- byte offset of the log line in the source and seq numbers the events one line produced
-- (a Sendmail line with to=a,b,c yields three deliveries). Replaying a source therefore
-- inserts nothing twice (ON CONFLICT DO NOTHING). The queue id is deliberately not part of
-- any unique key: short Postfix queue ids repeat over time.
--
-- Absent strings are NULL, except host, which is '' when the log did not say.
-- Partitioning by time and rollup tables come in later migrations; every event table
-- already has its timestamptz column "time" for that.

CREATE TABLE sources (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    identity    text NOT NULL UNIQUE,
    checkpoint  bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz
);

CREATE TABLE messages (
    time            timestamptz,
    host            text NOT NULL DEFAULT '',
    mta             text,
    queue_id        text,
    message_id      text,
    sender          text,
    size            bigint,
    nrcpt           integer,
    client          text,
    sasl_username   text,
    truncated       boolean NOT NULL DEFAULT false,
    source_id       bigint NOT NULL REFERENCES sources (id),
    pos             bigint NOT NULL,
    seq             integer NOT NULL DEFAULT 0,
    UNIQUE (source_id, pos, seq)
);

CREATE TABLE deliveries (
    time              timestamptz,
    host              text NOT NULL DEFAULT '',
    mta               text,
    queue_id          text,
    message_id        text,
    sender            text,
    recipient         text,
    orig_recipient    text,
    recipient_domain  text,
    relay             text,
    delay             double precision,
    delays            double precision[],   -- Postfix delays=a/b/c/d
    status            text NOT NULL CHECK (status IN ('sent', 'deferred', 'bounced', 'expired')),
    dsn               text,
    smtp_code         integer,
    reply             text,
    reason            text,
    hard              boolean NOT NULL DEFAULT false,
    truncated         boolean NOT NULL DEFAULT false,
    source_id         bigint NOT NULL REFERENCES sources (id),
    pos               bigint NOT NULL,
    seq               integer NOT NULL DEFAULT 0,
    UNIQUE (source_id, pos, seq)
);

CREATE TABLE rejects (
    time        timestamptz,
    host        text NOT NULL DEFAULT '',
    mta         text,
    queue_id    text,
    client      text,
    helo        text,
    sender      text,
    recipient   text,
    smtp_code   integer,
    dsn         text,
    reply       text,
    reason      text,
    truncated   boolean NOT NULL DEFAULT false,
    source_id   bigint NOT NULL REFERENCES sources (id),
    pos         bigint NOT NULL,
    seq         integer NOT NULL DEFAULT 0,
    UNIQUE (source_id, pos, seq)
);

CREATE TABLE bounce_notices (
    time             timestamptz,
    host             text NOT NULL DEFAULT '',
    mta              text,
    queue_id         text,       -- the message that bounced
    notice_queue_id  text,       -- the DSN the MTA generated for it
    truncated        boolean NOT NULL DEFAULT false,
    source_id        bigint NOT NULL REFERENCES sources (id),
    pos              bigint NOT NULL,
    seq              integer NOT NULL DEFAULT 0,
    UNIQUE (source_id, pos, seq)
);

CREATE INDEX deliveries_time_idx ON deliveries (time);
CREATE INDEX deliveries_domain_time_idx ON deliveries (recipient_domain, time);
CREATE INDEX deliveries_queue_id_idx ON deliveries (queue_id);
CREATE INDEX messages_time_idx ON messages (time);
CREATE INDEX messages_queue_id_idx ON messages (queue_id);
CREATE INDEX rejects_time_idx ON rejects (time);
CREATE INDEX bounce_notices_queue_id_idx ON bounce_notices (queue_id);

-- 019_sender_received - the messages one sender domain sent, without reading every rollup row.
--
-- A summary for one sender domain (/api/v1/summary?sender_domain=, the complaint rate's
-- denominator's report) read the whole hours of its range from "rollups", which holds about
-- one row per two attempts over a long tail of recipient domains: 262 ms for 30 days at 10M
-- attempts. Its attempts and rejects now come from the sender rollups (sql/009); the messages
-- it sent, which those do not count, from the received rows of "rollups", a few per hour and
-- host for each sender domain, found by this index.
CREATE INDEX rollups_received_idx ON rollups (sender_domain, hour) WHERE kind = 'received';

-- Migration 009 made the sender rollups without counting the events already stored, so a
-- database that held events before it has none for them: the senders report, and now the
-- summary of a sender domain, left those out. They are counted once here when some stored
-- event is older than every sender rollup row (a database made at 009 or later has none such):
-- from the events still stored (mailpulse_rebuild_sender_rollups()), and, for the sender domain
-- axis, from "rollups" for the hours before them, whose events retention may have dropped while
-- "rollups" kept their counts. The SASL user and client axes have no such source: "rollups"
-- does not know them.
DO $$
DECLARE
    first timestamptz := coalesce((SELECT min(hour) FROM rollups_sender_hour), 'infinity');
    oldest timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM deliveries WHERE time < first)
       OR EXISTS (SELECT 1 FROM rejects WHERE time < first) THEN
        SELECT date_trunc('hour', least((SELECT min(time) FROM deliveries),
                                        (SELECT min(time) FROM rejects)), 'UTC')
            INTO oldest;
        -- Hours before the oldest event: no sender rollup row has one (first > oldest).
        INSERT INTO rollups_sender_hour (hour, host, axis, key, kind, reason, n)
        SELECT hour, host, 'sender_domain', sender_domain, kind, reason, sum(n)
        FROM rollups
        WHERE hour < oldest AND kind IN ('sent', 'deferred', 'bounced', 'expired', 'rejected')
        GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 3, 1, 4, 2, 5, 6;
        -- The events' hours, and the days from the first event's day on (from the hours).
        PERFORM mailpulse_rebuild_sender_rollups();
        -- The days before it, from the hours just made.
        INSERT INTO rollups_sender_day (day, host, axis, key, sent, deferred, bounced, expired,
                                        rejected)
        SELECT date_trunc('day', hour, 'UTC'), host, axis, key,
               coalesce(sum(n) FILTER (WHERE kind = 'sent'), 0),
               coalesce(sum(n) FILTER (WHERE kind = 'deferred'), 0),
               coalesce(sum(n) FILTER (WHERE kind = 'bounced'), 0),
               coalesce(sum(n) FILTER (WHERE kind = 'expired'), 0),
               coalesce(sum(n) FILTER (WHERE kind = 'rejected'), 0)
        FROM rollups_sender_hour WHERE hour < date_trunc('day', oldest, 'UTC')
        GROUP BY 1, 2, 3, 4;
        INSERT INTO rollups_sender_reason_day (day, host, axis, key, reason, n)
        SELECT date_trunc('day', hour, 'UTC'), host, axis, key, reason, sum(n)
        FROM rollups_sender_hour
        WHERE hour < date_trunc('day', oldest, 'UTC') AND kind <> 'sent' AND reason <> ''
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
END $$;

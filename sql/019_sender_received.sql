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
-- event is older than every sender rollup row (a database made at 009 or later has none such).
DO $$
DECLARE
    first timestamptz := coalesce((SELECT min(hour) FROM rollups_sender_hour), 'infinity');
BEGIN
    IF EXISTS (SELECT 1 FROM deliveries WHERE time < first)
       OR EXISTS (SELECT 1 FROM rejects WHERE time < first) THEN
        PERFORM mailpulse_rebuild_sender_rollups();
    END IF;
END $$;

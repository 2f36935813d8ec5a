-- 012_notices - a message the MTA wrote itself, a bounce or delay notice (no sender and no
-- client: Postfix's from=<> after its bounce daemon, Exim's "<= <>" without H=), is of kind
-- 'notice' in the view "facts" and so in the rollups, not 'received': the counts of
-- `mailpulse report`, which leaves notices out of received and counts them by their
-- bounce_notice events. The ingest applies the same rule (db/ingest.c). Hours stored before
-- this migration keep counting notices as received until `mailpulse db rebuild-rollups`.

CREATE OR REPLACE VIEW facts AS
    SELECT time, host, coalesce(sender_domain, '') AS sender_domain,
           '' AS recipient_domain,
           CASE WHEN coalesce(sender, '') = '' AND coalesce(client, '') = '' THEN 'notice'
                ELSE 'received' END AS kind,
           '' AS reason, '' AS dsn, NULL::text AS reply
    FROM messages
    UNION ALL
    SELECT time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), status,
           coalesce(reason, ''), coalesce(dsn, ''), CASE WHEN status <> 'sent' THEN reply END
    FROM deliveries
    UNION ALL
    SELECT time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), 'rejected',
           coalesce(reason, ''), coalesce(dsn, ''), reply
    FROM rejects;

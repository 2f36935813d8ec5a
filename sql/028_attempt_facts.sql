-- 028_attempt_facts - the attempts' part of the view "facts" as a view of its own.
--
-- "facts" is every event in the shape of a rollup row; an aggregate that counts only the
-- attempts (the reasons of failure, the domains report) filtered its kind to the attempts'
-- four, yet still scanned the messages of its range's ends: their kind is a CASE over each
-- row (012), which the planner cannot prove never to be 'sent', so it could not drop that
-- branch of the view. Those scans grow with the traffic: the messages find their time
-- through a BRIN index (013), whose every scan reads a partition's whole index. Such an
-- aggregate now reads "attempt_facts", and "facts" is the same rows as before, the attempts
-- taken from the new view.
CREATE VIEW attempt_facts AS
    SELECT time, host, coalesce(sender_domain, '') AS sender_domain,
           coalesce(recipient_domain, '') AS recipient_domain, status AS kind,
           coalesce(reason, '') AS reason, coalesce(dsn, '') AS dsn,
           CASE WHEN status <> 'sent' THEN reply END AS reply
    FROM deliveries;

CREATE OR REPLACE VIEW facts AS
    SELECT time, host, coalesce(sender_domain, '') AS sender_domain,
           '' AS recipient_domain,
           CASE WHEN coalesce(sender, '') = '' AND coalesce(client, '') = '' THEN 'notice'
                ELSE 'received' END AS kind,
           '' AS reason, '' AS dsn, NULL::text AS reply
    FROM messages
    UNION ALL
    SELECT * FROM attempt_facts
    UNION ALL
    SELECT time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), 'rejected',
           coalesce(reason, ''), coalesce(dsn, ''), reply
    FROM rejects;

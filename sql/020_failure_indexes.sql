-- 020_failure_indexes - the newest delivery errors of one recipient domain, sender domain, SASL
-- user, client, reason or DSN code, without walking every attempt of the range.
--
-- The bounces page and /api/v1/bounces list the attempts that were not sent, newest first, by
-- the time index: quick when the filter matches often (a big provider, a busy sender), but a
-- filter that matches a few rows of the range read the whole range to find them. At 10M
-- attempts over 30 days: 1.1 s for a tail recipient domain's errors (the dashboard's domain
-- rows and the alerts link there), 3 s for a SASL user or client IP that failed rarely or
-- never (the senders page links there), 3.2 s for a reason and 1.2 s for a DSN code that
-- occur rarely (the page's reason list and DSN field). These indexes hold only the attempts
-- that were not sent (about one in eight here), so each costs about 4.5 bytes per attempt.
CREATE INDEX deliveries_failed_domain_idx ON deliveries (recipient_domain, time)
    WHERE status <> 'sent';
CREATE INDEX deliveries_failed_sender_idx ON deliveries (sender_domain, time)
    WHERE status <> 'sent';
CREATE INDEX deliveries_failed_sasl_idx ON deliveries (sasl_username, time)
    WHERE status <> 'sent';
CREATE INDEX deliveries_failed_client_idx ON deliveries (mailpulse_client_ip(client), time)
    WHERE status <> 'sent';
CREATE INDEX deliveries_failed_reason_idx ON deliveries (reason, time)
    WHERE status <> 'sent';
CREATE INDEX deliveries_failed_dsn_idx ON deliveries (dsn, time)
    WHERE status <> 'sent';

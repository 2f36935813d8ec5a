-- 025_failed_provider - the newest delivery errors of one mailbox provider without walking every
-- attempt of the range.
--
-- The dashboard's provider rows link to /bounces?provider=; the list is newest first by the
-- time index, quick for a provider that fails often and a walk over every failed attempt of
-- the range for one that fails rarely or never: 1.6 s over 30 days at 10M attempts. Like the
-- indexes of 020, this one holds only the attempts that were not sent.
CREATE INDEX deliveries_failed_provider_idx ON deliveries (provider, time)
    WHERE status <> 'sent';

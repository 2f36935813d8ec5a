-- 008_alerts - the alerts the daemon raises from the rollups (cmd/alerts.c, report/alert.c).
--
-- One row per incident: a rule (bounce_provider, deferral_domain, block_new, ...) about one
-- subject (a provider, a domain, a host, "host/block", the daemon) from "started" until
-- "ended" (NULL while the alert is active). "numbers" are the counts that fired it, updated
-- while it lasts; "link" is the /bounces page filtered to what it is about. At most one
-- active alert exists per rule and subject.

CREATE TABLE alerts (
    id        bigserial PRIMARY KEY,
    rule      text NOT NULL,
    subject   text NOT NULL,
    severity  text NOT NULL CHECK (severity IN ('warning', 'critical')),
    started   timestamptz NOT NULL,
    ended     timestamptz,
    numbers   jsonb NOT NULL,
    link      text NOT NULL,
    updated   timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX alerts_active ON alerts (rule, subject) WHERE ended IS NULL;
CREATE INDEX alerts_started ON alerts (started DESC);

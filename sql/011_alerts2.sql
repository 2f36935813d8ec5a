-- 011_alerts2 - how an alert ended.
--
-- "numbers" of an alert are those of its last firing evaluation (the last one that judged
-- the subject worth the alert), so an ended alert still shows what fired it; "end_numbers"
-- are those of the evaluation that ended it (zeros of the rule's counts when the subject
-- vanished from the numbers), NULL while the alert is active and for alerts ended before
-- this migration.

ALTER TABLE alerts ADD COLUMN end_numbers jsonb;

-- 029_messages_time_btree - the messages find a time range through a B-tree again.
--
-- Since 013 a BRIN index found them: a few bytes per 32 pages instead of an entry per row.
-- But every scan of a BRIN index reads the partition's whole index, and reports scan the
-- messages at both ends of a range (the received counts of the partial minutes, a sender
-- domain's partial hours), so each of those reports paid for a read of the month's index,
-- a cost that grows with the month's traffic: at 30M attempts over 30 days about 1 ms a scan,
-- two scans a query. Measured at 30M (7 days mid-hour, p50, the set's two months): summary
-- 5.5 -> 3.4 ms, timeseries by hour 7.6 -> 5.8, a sender domain's summary 10.4 -> 7.4, the
-- dashboard about 33 -> 28; the B-tree takes 7.5 bytes per attempt (22 per message), 6.7 once
-- `mailpulse db compact` has rebuilt an ended month's full (027). Messages arrive in time order,
-- so the B-tree fills its pages as the attempts' does.
--
-- The attempts and the messages now both find a range of time through a B-tree; BRIN stays
-- on rollups_domain_hour, whose alert window reads it (summarized by the writer, 024).
DROP INDEX messages_time_brin;
CREATE INDEX messages_time_idx ON messages (time);

-- 022_delays_text - Postfix's four delays as the text they are logged as.
--
-- A delivery's delays (delays=a/b/c/d: before the queue manager, in it, connection setup,
-- transmission) were a double precision[]: a 24-byte array header and four 8-byte numbers,
-- 53 bytes on disk for what Postfix writes in about 15 characters, the largest column of the
-- attempts (at 10M attempts about 7% of everything stored). They are now text in Postfix's own
-- form, "0.27/0/0.06/0.53" (19 bytes on disk): each number in its shortest exact form, an
-- unknown one empty. The same numbers, to the last digit; this rewrites every attempt once.
ALTER TABLE deliveries ALTER COLUMN delays TYPE text USING array_to_string(delays, '/', '');

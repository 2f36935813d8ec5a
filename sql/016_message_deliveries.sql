-- 016_message_deliveries - the attempts of a Message-ID are found through its messages.
--
-- Every attempt carries the Message-ID of its message (the parser takes it from the message
-- it belongs to), and it had a B-tree of its own: about 42 bytes per attempt for ids of 40
-- bytes and more, as much as the column itself. The messages of a Message-ID are already
-- found by their hash index (013), and each names its host and queue id, whose attempts the
-- queue-id index finds. So the attempts' index goes, and mailpulse_message_deliveries() looks
-- an id up in that order. The column stays: it is what makes the match exact when a queue id
-- was used again by a later message, and the attempts read out keep their Message-ID.
--
-- A message is received before its attempts, so its row is no later than theirs (p_to), and
-- it is looked for no more than 45 days before the window (p_from): MTAs give a message up
-- within days (Postfix and Sendmail after 5 by default), and without a lower bound every
-- monthly partition of the history would be probed. The lookups it serves (a DSN's
-- delivery, a complaint's) all have the message's row too: the attempts of a queue id whose
-- message line was not seen have no Message-ID either.

DROP INDEX deliveries_message_id_idx;

-- mailpulse_message_deliveries - the attempts of Message-ID p_message_id made in [p_from, p_to]
CREATE FUNCTION mailpulse_message_deliveries(p_message_id text, p_from timestamptz,
                                             p_to timestamptz)
RETURNS SETOF deliveries LANGUAGE sql STABLE AS $$
    SELECT d.* FROM deliveries d
    WHERE (d.host, d.queue_id) IN (SELECT m.host, m.queue_id FROM messages m
                                   WHERE m.message_id = p_message_id
                                     AND m.time >= p_from - interval '45 days'
                                     AND m.time <= p_to)
      AND d.message_id = p_message_id AND d.time >= p_from AND d.time <= p_to
$$;

-- mailpulse_dsn_delivery - as in 007, the attempts of a Message-ID from the function above.
CREATE OR REPLACE FUNCTION mailpulse_dsn_delivery(p_message_id text, p_raw text, p_recipient text,
                                                  p_orig text, p_time timestamptz,
                                                  OUT status text, OUT host text,
                                                  OUT queue_id text, OUT sender_domain text)
RETURNS SETOF record LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_message_id IS NOT NULL THEN
        RETURN QUERY
        SELECT d.status, d.host, d.queue_id, d.sender_domain
        FROM mailpulse_message_deliveries(p_message_id, p_time - interval '45 days',
                                          p_time + interval '1 day') d
        WHERE (d.recipient IN (p_raw, p_recipient) OR lower(d.recipient) = lower(p_orig))
          AND d.status <> 'deferred'
        ORDER BY d.status IN ('bounced', 'expired') DESC, d.time DESC LIMIT 1;
    ELSE
        RETURN QUERY
        SELECT d.status, d.host, d.queue_id, d.sender_domain FROM deliveries d
        WHERE d.recipient IN (p_raw, p_recipient)
          AND d.time >= p_time - interval '45 days' AND d.time <= p_time
          AND d.status <> 'deferred'
        ORDER BY d.time DESC LIMIT 1;
    END IF;
END $$;

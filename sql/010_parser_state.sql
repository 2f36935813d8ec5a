-- 010_parser_state - what a source's parser needs to go on mid-log after a restart.
--
-- One row per source (a segment of a followed log): the parser's state (parser_state_save(),
-- a versioned, checksummed blob) as it was after reading up to "position", the byte where
-- reading goes on. The daemon writes it in the same transaction as the rows and the
-- checkpoint it belongs to, so after a crash the state, the rows and the checkpoint agree.
-- A missing, unreadable or other-version state is not an error: the daemon then reads the
-- log from its first byte, as it did before this table, and the unique row key keeps the
-- rows exactly once. The state carries no rows, so a rollup rebuild ignores it.
--
-- No foreign key: emptying the sources (TRUNCATE sources, ... RESTART IDENTITY) must not need
-- to know of this table. A state is used only while its source still has the identity it
-- was saved under, so a source id given again to another log never takes a stale state.

CREATE TABLE parser_state (
    source_id bigint PRIMARY KEY,
    identity  text NOT NULL,
    position  bigint NOT NULL CHECK (position >= 0),
    version   integer NOT NULL,
    state     bytea NOT NULL,
    saved_at  timestamptz NOT NULL DEFAULT now()
);

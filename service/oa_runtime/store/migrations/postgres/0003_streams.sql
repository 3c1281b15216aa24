-- Streams and the global log. Every event belongs to a stream (kind, id) with
-- dense seqs, and has a global `position`: its place in commit order, which
-- catch-up readers (async projections) follow. Positions come from the one-row
-- `log_head` counter, updated as the last lock of each event-writing transaction
-- and held until its commit (see store/dialect.py), so they follow commit order.
-- Existing events are numbered in the order they were written (each run's running
-- latest time, then run id and seq).
ALTER TABLE events RENAME COLUMN run_id TO stream_id;
ALTER TABLE events ADD COLUMN stream_kind TEXT NOT NULL DEFAULT 'run';
ALTER TABLE events ALTER COLUMN stream_kind DROP DEFAULT;
ALTER TABLE events ADD COLUMN position BIGINT;
UPDATE events SET position = numbered.position
FROM (
    SELECT stream_id, seq, row_number() OVER (ORDER BY written, stream_id, seq) AS position
    FROM (SELECT stream_id, seq, max(occurred_at) OVER (PARTITION BY stream_id ORDER BY seq) AS written
          FROM events) AS timed
) AS numbered
WHERE events.stream_id = numbered.stream_id AND events.seq = numbered.seq;
ALTER TABLE events ALTER COLUMN position SET NOT NULL;
ALTER TABLE events ADD CONSTRAINT events_position_key UNIQUE (position);
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (stream_kind, stream_id, seq);

CREATE TABLE log_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO log_head (id, position) SELECT 1, COALESCE(max(position), 0) FROM events;

-- Async projections: how far each has applied the global log, and at which version.
CREATE TABLE projection_checkpoints (
    name       TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    position   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The thread messages projection: each run's completed messages (its prompt is in runs.request).
CREATE TABLE thread_messages (
    run_id     TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    position   BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

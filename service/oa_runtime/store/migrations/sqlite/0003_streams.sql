-- Streams and the global log. Every event belongs to a stream (kind, id) with
-- dense seqs, and has a global `position`: its place in commit order, which
-- catch-up readers (async projections) follow. One writer thread commits one
-- transaction at a time, so positions handed out from `log_head` in the insert's
-- transaction follow commit order. Existing events are numbered in the order
-- they were written (each run's running latest time, then run id and seq).
CREATE TABLE events_v3 (
    stream_kind TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    position    INTEGER NOT NULL UNIQUE,
    event_id    TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (stream_kind, stream_id, seq)
) WITHOUT ROWID;
INSERT INTO events_v3 (stream_kind, stream_id, seq, position, event_id, type, occurred_at, payload)
SELECT 'run', run_id, seq, ROW_NUMBER() OVER (ORDER BY written, run_id, seq), event_id, type, occurred_at, payload
FROM (SELECT *, MAX(occurred_at) OVER (PARTITION BY run_id ORDER BY seq) AS written FROM events);
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;

CREATE TABLE log_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
INSERT INTO log_head (id, position) SELECT 1, COALESCE(MAX(position), 0) FROM events;

-- Async projections: how far each has applied the global log, and at which version.
CREATE TABLE projection_checkpoints (
    name       TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- The thread messages projection: each run's completed messages (its prompt is in runs.request).
CREATE TABLE thread_messages (
    run_id     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

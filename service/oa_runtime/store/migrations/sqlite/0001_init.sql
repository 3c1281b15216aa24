-- The event log and the rows derived from it. Times are ISO-8601 UTC text with
-- microseconds (lexical order = time order); JSON columns are TEXT.
CREATE TABLE threads (
    thread_id  TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    thread_id     TEXT NOT NULL REFERENCES threads (thread_id),
    request       TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_seq      INTEGER NOT NULL,
    step_count    INTEGER NOT NULL DEFAULT 0,
    finish_reason TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    oldest_seq    INTEGER NOT NULL DEFAULT 1,
    -- The folded RunState, so an append needs no replay of the log.
    state         TEXT NOT NULL
);
CREATE INDEX runs_thread_created ON runs (thread_id, created_at);
CREATE INDEX runs_created_run ON runs (created_at, run_id);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE events (
    run_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    run_id       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    seqs         TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE pending_cancels (
    run_id TEXT PRIMARY KEY,
    event  TEXT NOT NULL
);

CREATE TABLE checkpoints (
    run_id     TEXT NOT NULL,
    covers_seq INTEGER NOT NULL,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, covers_seq)
) WITHOUT ROWID;

CREATE TABLE nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX nonces_expires ON nonces (expires_at);

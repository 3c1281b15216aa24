-- The event log and the rows derived from it.
CREATE TABLE threads (
    thread_id  TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    thread_id     TEXT NOT NULL REFERENCES threads (thread_id),
    request       JSONB NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    last_seq      BIGINT NOT NULL,
    step_count    BIGINT NOT NULL DEFAULT 0,
    finish_reason TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    oldest_seq    BIGINT NOT NULL DEFAULT 1,
    -- The folded RunState, so an append needs no replay of the log.
    state         JSONB NOT NULL
);
CREATE INDEX runs_thread_created ON runs (thread_id, created_at);
CREATE INDEX runs_created_run ON runs (created_at, run_id);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE events (
    run_id      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    payload     JSONB NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE idempotency_keys (
    run_id       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    seqs         JSONB NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE pending_cancels (
    run_id TEXT PRIMARY KEY,
    event  JSONB NOT NULL
);

CREATE TABLE checkpoints (
    run_id     TEXT NOT NULL,
    covers_seq BIGINT NOT NULL,
    state      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, covers_seq)
);

CREATE TABLE nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX nonces_expires ON nonces (expires_at);

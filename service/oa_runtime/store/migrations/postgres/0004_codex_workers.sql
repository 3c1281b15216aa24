-- Codex workers (core/workers.py): each worker is a stream of its own. Its events have dense
-- seqs from 1 (codex_worker_events, shaped like a stream of the global log so the rows can
-- move there), its summary row is the fold of those events (an inline projection written in
-- the same transaction), and control requests are remembered by request id (idempotency).
-- Numbered 0004: 0003 is the platform's streams migration.
CREATE TABLE codex_workers (
    worker_id     TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,          -- canonical user id, '' for none
    status        TEXT NOT NULL,
    workspace_ref TEXT NOT NULL,
    latest_seq    BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    state         JSONB NOT NULL          -- the folded WorkerState
);
CREATE INDEX codex_workers_owner_created ON codex_workers (owner, created_at, worker_id);
CREATE INDEX codex_workers_created ON codex_workers (created_at, worker_id);

CREATE TABLE codex_worker_events (
    worker_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    payload     JSONB NOT NULL,
    PRIMARY KEY (worker_id, seq)
);

CREATE TABLE codex_worker_requests (
    worker_id   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (worker_id, request_id)
);

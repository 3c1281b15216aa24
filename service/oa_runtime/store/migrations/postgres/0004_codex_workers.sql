-- Codex workers (core/workers.py): each worker is a stream of the global log (events with
-- stream_kind 'worker', see 0003). Its summary row is the fold of that stream (an inline
-- projection, written in the same transaction as the events), and control requests are
-- remembered by request id (idempotency).
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

CREATE TABLE codex_worker_requests (
    worker_id   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (worker_id, request_id)
);

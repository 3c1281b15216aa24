-- Codex workers (core/workers.py): each worker is a stream of the global log (events with
-- stream_kind 'worker', see 0003). Its summary row is the fold of that stream (an inline
-- projection, written in the same transaction as the events), and control requests are
-- remembered by request id (idempotency).
CREATE TABLE codex_workers (
    worker_id     TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,          -- canonical user id, '' for none
    status        TEXT NOT NULL,
    workspace_ref TEXT NOT NULL,
    latest_seq    INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    state         TEXT NOT NULL           -- the folded WorkerState (JSON)
);
CREATE INDEX codex_workers_owner_created ON codex_workers (owner, created_at, worker_id);
CREATE INDEX codex_workers_created ON codex_workers (created_at, worker_id);

CREATE TABLE codex_worker_events (
    worker_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (worker_id, seq)
) WITHOUT ROWID;

CREATE TABLE codex_worker_requests (
    worker_id   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (worker_id, request_id)
) WITHOUT ROWID;

-- Artifacts (core/artifacts.py, store/artifacts.py): bytes stored once per SHA-256 in the
-- database (so every replica reads them), cut into chunks of at most 256 KiB so a ranged read
-- touches only the chunks it needs; and an index of where each artifact appeared: a run's
-- (written by the artifact_index projection from `tool.result` events, rebuildable from the
-- log) or an agent's (written by its producer, e.g. memory compaction).
CREATE TABLE artifact_contents (
    sha256      TEXT PRIMARY KEY,
    size_bytes  BIGINT NOT NULL,
    chunk_bytes BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE artifact_chunks (
    sha256 TEXT NOT NULL,
    idx    BIGINT NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (sha256, idx)
);

CREATE TABLE artifacts (
    owner_kind TEXT NOT NULL,             -- 'run' (its stream) or 'agent'
    owner_id   TEXT NOT NULL,
    seq        BIGINT NOT NULL,          -- the event carrying the reference
    sha256     TEXT NOT NULL,
    run_id     TEXT NOT NULL,             -- '' for an agent's own artifact
    thread_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    producer   TEXT NOT NULL,
    preview    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, seq, sha256)
);
CREATE INDEX artifacts_thread ON artifacts (thread_id, created_at, owner_id, seq);
CREATE INDEX artifacts_agent ON artifacts (agent_id, created_at, owner_id, seq);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);

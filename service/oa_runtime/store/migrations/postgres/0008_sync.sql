-- Sync documents (core/sync.py, store/sync.py): run and Codex worker summaries as
-- documents for the sync sink and Subscribe. The runtime is their only writer.

-- One row per document and projection version: a new version is built aside while the
-- serving one keeps being read, then replaces it in one transaction (sync_projection).
CREATE TABLE sync_documents (
    projection_version INTEGER NOT NULL,
    doc_id             TEXT NOT NULL,      -- runtime/<kind>:<source id>
    kind               TEXT NOT NULL,      -- run_summary | codex_worker_summary
    source_id          TEXT NOT NULL,
    seq_to             BIGINT NOT NULL,      -- the stream's last seq the document covers
    payload_hash       TEXT NOT NULL,
    position           BIGINT NOT NULL,      -- log position of the latest event that changed it
    changed_at         DOUBLE PRECISION NOT NULL,      -- that event's time (epoch seconds): lag is measured from it
    document           TEXT NOT NULL,      -- the document as pushed (JSON: envelope and payload)
    PRIMARY KEY (projection_version, doc_id)
);
CREATE INDEX sync_documents_feed ON sync_documents (projection_version, kind, position);
CREATE INDEX sync_documents_order ON sync_documents (projection_version, position);

-- Each projection version's checkpoint; exactly one row is serving once any exists.
CREATE TABLE sync_projection (
    projection_version INTEGER PRIMARY KEY,
    position           BIGINT NOT NULL,      -- log position applied up to
    serving            INTEGER NOT NULL,   -- 1: Subscribe and the sink read this version
    horizon            BIGINT NOT NULL,      -- cursors below it need a full resync
    updated_at         DOUBLE PRECISION NOT NULL
);

-- The HTTP sink's pusher: a lease (one replica pushes at a time; the token fences a
-- replica that lost it) and the checkpoint it moves only after the sink acknowledged.
CREATE TABLE sync_sinks (
    sink               TEXT PRIMARY KEY,
    owner              TEXT NOT NULL,      -- '' when nobody holds the lease
    token              BIGINT NOT NULL,      -- grows by one per claim
    lease_expires_at   DOUBLE PRECISION NOT NULL,      -- epoch seconds
    projection_version INTEGER NOT NULL,   -- the version `position` is a position of
    position           BIGINT NOT NULL,      -- documents acknowledged up to (sync_documents.position)
    updated_at         DOUBLE PRECISION NOT NULL
);

-- What the sink acknowledged per document: a document whose version and hash it already
-- has is never pushed again (after a restart, a crash, a re-push of a new version).
CREATE TABLE sync_sink_acks (
    sink               TEXT NOT NULL,
    doc_id             TEXT NOT NULL,
    projection_version INTEGER NOT NULL,
    seq_to             BIGINT NOT NULL,
    payload_hash       TEXT NOT NULL,
    acked_at           DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sink, doc_id)
);

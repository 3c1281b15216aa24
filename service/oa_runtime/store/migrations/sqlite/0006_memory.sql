-- Tiered memory (core/memory/, docs/MEMORY.md): a projection over the log. A thread's memory
-- summarises the events of its runs (stream kind 'run') in position order; its thread seqs are
-- that order's dense numbering. Instants are epoch milliseconds (UTC) on both databases.
CREATE TABLE memory_chunks (
    chunk_id          TEXT PRIMARY KEY,      -- deterministic: (stream, level, window start)
    stream_kind       TEXT NOT NULL,         -- 'thread'
    stream_id         TEXT NOT NULL,
    level             INTEGER NOT NULL,      -- 1, 2, 3
    window_start_ms   INTEGER NOT NULL,
    window_end_ms     INTEGER NOT NULL,
    seq_first         INTEGER,               -- L1: the thread seqs covered
    seq_last          INTEGER,
    position_first    INTEGER,               -- L1: the log positions of those events
    position_last     INTEGER,
    input_ids         TEXT NOT NULL,         -- L2/L3: JSON array of the chunks rolled up
    summary           TEXT NOT NULL,
    summary_sha256    TEXT NOT NULL,
    summary_tokens    INTEGER NOT NULL,
    token_counter     TEXT NOT NULL,
    model             TEXT NOT NULL,
    provider          TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    created_at_ms     INTEGER NOT NULL
);
CREATE INDEX memory_chunks_stream ON memory_chunks (stream_kind, stream_id, window_start_ms, level);

-- Threads whose memory is kept (compacted on every tick, assembled into each turn's context).
CREATE TABLE memory_streams (
    stream_kind   TEXT NOT NULL,
    stream_id     TEXT NOT NULL,
    enabled_at_ms INTEGER NOT NULL,
    PRIMARY KEY (stream_kind, stream_id)
) WITHOUT ROWID;

-- One holder per memory job across replicas (compaction of a stream, one map/reduce query).
CREATE TABLE memory_jobs (
    job_key       TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    token         INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Map/reduce questions; their progress is the 'memory_query' stream of the log.
CREATE TABLE memory_queries (
    query_id      TEXT PRIMARY KEY,
    stream_kind   TEXT NOT NULL,
    stream_id     TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    request       TEXT NOT NULL,             -- JSON: question, window, max_parallel
    created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- The Laravel read models (store/read_models.py), in their own schema: {rm} is
-- "<RUNTIME_READ_MODEL_SCHEMA>". (the runtime's tables stay in the search path).
-- Applied after the numbered migrations on every start, idempotently, because the
-- schema is a setting. Columns are documented in the README ("Read models for Laravel").
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {rm}threads (
    thread_id TEXT PRIMARY KEY,
    user_id BIGINT,
    run_count INTEGER NOT NULL,
    last_run_id TEXT NOT NULL,
    last_status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS {ix}threads_user_updated ON {rm}threads (user_id, updated_at DESC);
CREATE TABLE IF NOT EXISTS {rm}runs (
    run_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    user_id BIGINT,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    last_seq BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    message_count BIGINT NOT NULL,
    step_count INTEGER NOT NULL,
    finish_reason TEXT NOT NULL,
    error_message TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    last_position BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS {ix}runs_thread_created ON {rm}runs (thread_id, created_at);
CREATE INDEX IF NOT EXISTS {ix}runs_user_created ON {rm}runs (user_id, created_at DESC);
CREATE TABLE IF NOT EXISTS {rm}messages (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    position BIGINT NOT NULL,
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS {ix}messages_thread_created ON {rm}messages (thread_id, created_at, run_id, seq);
CREATE TABLE IF NOT EXISTS {rm}run_events (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    position BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload JSONB NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, seq)
);
-- One row per agent (core/agent_summary.py), upserted from the runtime's agents row on
-- each of its events.
CREATE TABLE IF NOT EXISTS {rm}agents (
    agent_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    user_id BIGINT,
    parent_agent_id TEXT NOT NULL,
    state TEXT NOT NULL,
    model TEXT NOT NULL,
    pause_reason TEXT NOT NULL,
    pause_detail TEXT NOT NULL,
    pause_until TIMESTAMPTZ,
    failure_reason TEXT NOT NULL,
    error_message TEXT NOT NULL,
    current_run_id TEXT NOT NULL,
    last_turn_run_id TEXT NOT NULL,
    last_turn_outcome TEXT NOT NULL,
    turn_count INTEGER NOT NULL,
    pending_frame_count INTEGER NOT NULL,
    last_seq BIGINT NOT NULL,
    wake_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS {ix}agents_user_updated ON {rm}agents (user_id, updated_at DESC);
CREATE INDEX IF NOT EXISTS {ix}agents_thread ON {rm}agents (thread_id);
CREATE INDEX IF NOT EXISTS {ix}agents_state_updated ON {rm}agents (state, updated_at DESC);

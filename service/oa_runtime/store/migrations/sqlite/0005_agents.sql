-- Long-lived agents (core/agents/): each agent is a stream of the global log (events with
-- stream_kind 'agent', see 0003). Its row is the fold of that stream (an inline projection,
-- written in the same transaction as the events): the folded state (which is also its
-- checkpoint), the indexed columns lists filter on, its lease (one executor at a time,
-- fenced by lease_token) and `wake_at`, when it needs an executor (NULL: only a frame or
-- WakeAgent wakes it; a sleeping agent costs this row and no task, lease or memory).
CREATE TABLE agents (
    agent_id         TEXT PRIMARY KEY,
    thread_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL,          -- canonical user id, '' for none
    parent_agent_id  TEXT NOT NULL,          -- '' unless a child agent (the delegate tool)
    status           TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,          -- of the definition: CreateAgent is idempotent by it
    last_seq         INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    wake_at          TEXT,
    lease_owner      TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at TEXT,
    state            TEXT NOT NULL           -- the folded AgentState (checkpoint JSON)
);
CREATE INDEX agents_created ON agents (created_at, agent_id);
CREATE INDEX agents_status_created ON agents (status, created_at, agent_id);
CREATE INDEX agents_wake ON agents (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX agents_parent ON agents (parent_agent_id, created_at, agent_id) WHERE parent_agent_id <> '';

-- The frame index: every frame an agent ever received (client frames, schedule and timer
-- firings), unique per agent, so a frame is recorded once however often it is sent, and
-- the same id with another body is a conflict long after the fold forgot it.
CREATE TABLE agent_frames (
    agent_id TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    digest   TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (agent_id, frame_id)
) WITHOUT ROWID;

-- Turns canceled by the `rollback` input policy: their runs are dropped from the thread's
-- history (thread_runs leaves them out), written with the agent's `turn_finished`.
CREATE TABLE agent_rollbacks (
    run_id    TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL
);

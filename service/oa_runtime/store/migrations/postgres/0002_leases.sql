-- Run leases with fencing (see core/leases.py), and the wake-up time of waiting runs.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_expires_at TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN recovery_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN wake_at TIMESTAMPTZ;
-- The claimer's scan: only live runs, oldest first.
CREATE INDEX runs_claimable ON runs (created_at, run_id)
    WHERE status IN ('queued', 'running', 'canceling', 'waiting');

-- Run leases with fencing (see core/leases.py), and the wake-up time of waiting runs.
-- Times are epoch seconds (REAL): one process owns a SQLite file, so one clock decides.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_expires_at REAL;
ALTER TABLE runs ADD COLUMN recovery_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN wake_at REAL;
CREATE INDEX runs_claimable ON runs (created_at, run_id)
    WHERE status IN ('queued', 'running', 'canceling', 'waiting');

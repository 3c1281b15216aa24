-- Thread input (core/admission.py): the earlier unfinished run of the thread a run waits
-- for before it may be claimed (NULL: none); and the thread's unfinished runs, which
-- StartRun reads in its first statement.
ALTER TABLE runs ADD COLUMN after_run_id TEXT;
CREATE INDEX runs_thread_unfinished ON runs (thread_id, created_at)
    WHERE status IN ('queued', 'running', 'canceling', 'waiting');

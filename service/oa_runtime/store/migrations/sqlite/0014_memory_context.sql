-- Context assembly reads each level's newest chunks first, a page at a time (core/memory/
-- context.py ChunkPage): this index serves "level L of a thread, newest window first, older
-- than X" as one range, instead of walking every level's entries of the thread.
CREATE INDEX memory_chunks_level ON memory_chunks (stream_kind, stream_id, level, window_start_ms);

-- Bounds on which runs of a thread can hold events after a log position (store/memory.py
-- `mark_thread_runs`): every run of the thread with an event after `position` was created at or
-- after `runs_from`. A turn's raw read then walks only the thread's runs created since
-- (runs_thread_created), not every run of a long thread with all their events.
CREATE TABLE memory_run_marks (
    thread_id TEXT NOT NULL,
    position  INTEGER NOT NULL,
    runs_from TEXT NOT NULL,
    PRIMARY KEY (thread_id, position)
) WITHOUT ROWID;

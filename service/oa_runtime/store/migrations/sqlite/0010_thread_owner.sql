-- The thread's owner on its row (canonical user id, '' for none), set by the run that creates
-- the thread and checked by every later create_run in its transaction: StartRun reads nothing
-- to authorize, and two first runs of one thread by two users cannot both pass. Existing
-- threads take the user of their newest run (every run of a thread names the same user).
ALTER TABLE threads ADD COLUMN user_id TEXT;
UPDATE threads SET user_id = (
    SELECT json_extract(r.request, '$.user_id') FROM runs r
    WHERE r.thread_id = threads.thread_id
    ORDER BY r.created_at DESC, r.run_id DESC LIMIT 1
);

-- Authorization reads a thread's owner from its row only (auth/resources.py `thread_owner`).
-- Agents created before they owned their thread like a run does left threads without a row,
-- or with no owner when the thread has no run: give those threads their agents' user (every
-- agent of a thread names the same user), so a thread of agents is never ownerless.
INSERT INTO threads (thread_id, created_at, user_id)
SELECT thread_id, MIN(created_at), MIN(user_id) FROM agents GROUP BY thread_id
ON CONFLICT DO NOTHING;
UPDATE threads SET user_id = (
    SELECT a.user_id FROM agents a WHERE a.thread_id = threads.thread_id
    ORDER BY a.created_at, a.agent_id LIMIT 1
)
WHERE user_id IS NULL AND EXISTS (SELECT 1 FROM agents a WHERE a.thread_id = threads.thread_id);

-- Who counted a chunk's prompt and completion tokens: 'provider' (the model provider reported
-- its usage) or the token counter's name (it did not). Chunks written before were all counted
-- by the counter that counted their summary.
ALTER TABLE memory_chunks ADD COLUMN usage_counted_by TEXT NOT NULL DEFAULT '';
UPDATE memory_chunks SET usage_counted_by = token_counter;

-- The agent row's folded state as JSON text instead of JSONB: nothing queries inside it (the
-- service reads and writes it whole), and compact JSON text is a quarter smaller than its JSONB
-- form (1,158 against 1,558 bytes for a new agent). A default agent's row then fits six to a
-- heap page instead of four: 2.22 KB -> 1.53 KB per sleeping agent with its indexes
-- (python -m bench.agents --only sleeping). SQLite has stored it as TEXT from the start.
ALTER TABLE agents ALTER COLUMN state TYPE TEXT USING state::text;

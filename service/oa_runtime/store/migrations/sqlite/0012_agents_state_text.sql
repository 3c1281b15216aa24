-- PostgreSQL turns agents.state from JSONB into TEXT (see its 0012); SQLite has stored it as
-- TEXT from the start, so there is nothing to change here. The version keeps both in step.
SELECT 1;

-- Artifact byte GC (app/retention.py, store/artifact_gc.py): when a writer last stored (or
-- stored again) each blob. The collector removes a blob no index row or unindexed event
-- references only once `stored_at` is older than its grace period, and every put of bytes
-- that already exist moves `stored_at` to now in its own transaction, so a writer that just
-- stored bytes has the whole grace period to commit the event or row that references them.
ALTER TABLE artifact_contents ADD COLUMN stored_at TEXT NOT NULL DEFAULT '';
UPDATE artifact_contents SET stored_at = created_at;
CREATE INDEX artifact_contents_stored ON artifact_contents (stored_at);

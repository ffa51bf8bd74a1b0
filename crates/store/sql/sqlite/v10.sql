-- How long a run has waited, in total, because a vendor told it to slow down (a 429, a spent
-- budget): such waits do not count as failed attempts, but their total has a ceiling.
ALTER TABLE runs ADD COLUMN throttled_ms INTEGER NOT NULL DEFAULT 0;

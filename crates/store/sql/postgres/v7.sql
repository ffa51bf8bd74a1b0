-- The order in which a run's steps were first begun: steps begun within one millisecond read
-- in that order, not by key (SQLite's steps have it as their rowid).
ALTER TABLE steps ADD COLUMN seq BIGSERIAL;

-- The console overview's numbers, one reading a minute (the first node to take a minute's
-- reading wins), kept for a week.
CREATE TABLE overview_samples (
    at_ms  INTEGER PRIMARY KEY,
    sample TEXT    NOT NULL
);

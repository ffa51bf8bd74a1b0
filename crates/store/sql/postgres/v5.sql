-- The console overview's numbers, one reading a minute (the SQLite store's version 7).
CREATE TABLE overview_samples (
    at_ms  BIGINT PRIMARY KEY,
    sample TEXT   NOT NULL
);

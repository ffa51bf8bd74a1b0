-- Console sessions, shared by every node (the SQLite store's version 8).
CREATE TABLE console_sessions (
    id_hash      TEXT   PRIMARY KEY,
    token_id     TEXT   NOT NULL,
    csrf         TEXT   NOT NULL,
    last_seen_ms BIGINT NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (last_seen_ms);

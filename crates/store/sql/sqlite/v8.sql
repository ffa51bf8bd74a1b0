-- Console sessions, shared by every node (a session id is kept only as its SHA-256).
CREATE TABLE console_sessions (
    id_hash      TEXT    PRIMARY KEY,
    token_id     TEXT    NOT NULL,
    csrf         TEXT    NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (last_seen_ms);

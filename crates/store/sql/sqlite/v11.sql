-- The dedupe keys of inbox events that retention let go: a delivery seen before (a replay, a
-- vendor's late retry) is still known as one after its event is pruned.
CREATE TABLE inbox_seen (
    dedupe_key TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX inbox_seen_received ON inbox_seen (received_at);

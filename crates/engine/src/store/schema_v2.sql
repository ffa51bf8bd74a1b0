-- Coordination between nodes: named leases (one Zoho token refresh at a time per connection)
-- and quota windows (every node spends from one budget per Zoho organization).

CREATE TABLE leases (
    name     TEXT    PRIMARY KEY,
    holder   TEXT    NOT NULL,
    until_ms INTEGER NOT NULL
);

CREATE TABLE quota_grants (
    key   TEXT    NOT NULL,
    at_ms INTEGER NOT NULL,
    cost  INTEGER NOT NULL
);
CREATE INDEX quota_grants_by_key ON quota_grants (key, at_ms);

CREATE TABLE quota_pauses (
    key      TEXT    PRIMARY KEY,
    until_ms INTEGER NOT NULL
);

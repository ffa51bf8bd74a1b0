-- Coordination between nodes: named leases (one Zoho token refresh at a time per connection)
-- and quota windows (every node spends from one budget per Zoho organization).

CREATE TABLE leases (
    name     TEXT    PRIMARY KEY,
    holder   TEXT    NOT NULL,
    until_ms INTEGER NOT NULL
);

-- Spending per key and window, summed into buckets of a sixtieth of the window: a window's use
-- is read from at most 61 rows however busy it is.
CREATE TABLE quota_buckets (
    key       TEXT    NOT NULL,
    window_ms INTEGER NOT NULL,
    bucket_ms INTEGER NOT NULL,
    cost      INTEGER NOT NULL,
    PRIMARY KEY (key, window_ms, bucket_ms)
);

CREATE TABLE quota_pauses (
    key      TEXT    PRIMARY KEY,
    until_ms INTEGER NOT NULL
);

-- Flow files as deployed: every version's text (the version is a hash of it), and which
-- version each environment runs, as a history (the newest row per environment and flow wins).
CREATE TABLE flow_versions (
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    origin      TEXT    NOT NULL,
    recorded_ms INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE flow_deployments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    env         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    deployed_ms INTEGER NOT NULL,
    note        TEXT
);
CREATE INDEX flow_deployments_env ON flow_deployments (env, name, id);

-- The flow version a run executed (flow files only).
ALTER TABLE runs ADD COLUMN flow_version TEXT;
-- 1: a replay asked for that version, not the deployed one.
ALTER TABLE runs ADD COLUMN flow_version_pinned INTEGER NOT NULL DEFAULT 0;

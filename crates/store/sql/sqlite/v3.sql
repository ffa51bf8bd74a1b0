-- The credential vault: every secret sealed with its own data key (XChaCha20-Poly1305), the data
-- key wrapped with a master key named by its id, so that rotating the master key rewraps keys
-- and never touches the secrets.

CREATE TABLE vault_secrets (
    name        TEXT    PRIMARY KEY,
    key_id      TEXT    NOT NULL,
    wrapped_key BLOB    NOT NULL,
    sealed      BLOB    NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

-- The salt a passphrase master key is derived with (Argon2id), made once per store.
CREATE TABLE vault_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Connections to vendor accounts: what is not secret about them (a Zoho connection's accounts
-- server and api_domain, as Zoho named them when it was set up). Their secrets are in the vault.
CREATE TABLE connections (
    name       TEXT    PRIMARY KEY,
    vendor     TEXT    NOT NULL,
    settings   TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Admin API tokens: `pb_<id>_<secret>`; only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    secret_hash  BLOB    NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms   INTEGER
);

-- Dead letters keep what a person needs to fix them: the failed step, the vendor's request id
-- and the step's input. A discarded dead letter stays as history (status 'discarded').
ALTER TABLE runs ADD COLUMN last_error_step TEXT;
ALTER TABLE runs ADD COLUMN last_error_request_id TEXT;
ALTER TABLE steps ADD COLUMN input TEXT;
ALTER TABLE steps ADD COLUMN error_request_id TEXT;
CREATE INDEX runs_flow ON runs (flow, id);
CREATE INDEX runs_finished ON runs (status, finished_at);
-- Retention: inbox rows are kept while an order refers to them.
CREATE INDEX orders_inbox ON orders (inbox_id);

-- Access tokens shared by every process of a connection (and across restarts), so that they
-- refresh once, not once each. Sealed by the connector under a key the store does not have.
CREATE TABLE shared_tokens (
    name       TEXT    PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Claiming the next due run reads this index in order (a backlog of any size costs the same).
CREATE INDEX runs_claim ON runs (status, next_attempt_at, id);

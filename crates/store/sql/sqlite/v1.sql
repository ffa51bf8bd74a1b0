-- paybridge store, version 1 (SQLite). Times are Unix milliseconds; amounts are integer minor
-- units with their currency. Nothing here ever holds a card number or a secret.

-- Every accepted input, committed before it is acknowledged. `dedupe_key` collapses repeats.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,
    dedupe_key  TEXT    NOT NULL UNIQUE,
    event_type  TEXT    NOT NULL,
    entity_key  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);

-- Orders placed through the order API, and where each stands in both systems.
CREATE TABLE orders (
    id                  TEXT    PRIMARY KEY,
    reference           TEXT    NOT NULL UNIQUE,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    request_fingerprint TEXT    NOT NULL,
    inbox_id            INTEGER NOT NULL REFERENCES inbox (id),
    status              TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    amount_minor        INTEGER NOT NULL,
    customer_email      TEXT    NOT NULL,
    card_brand          TEXT,
    card_last4          TEXT,
    payment_id          TEXT,
    payment_status      TEXT,
    decline_reason      TEXT,
    status_detail       TEXT,
    failure_kind        TEXT,
    zoho_contact_id     TEXT,
    zoho_invoice_id     TEXT,
    zoho_payment_id     TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status);

-- One run per (event, flow). `entity_key` orders runs: a run waits for earlier unfinished runs
-- of the same entity. A run is leased by one worker at a time.
CREATE TABLE runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id          INTEGER NOT NULL REFERENCES inbox (id),
    flow              TEXT    NOT NULL,
    entity_key        TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    attempt           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  INTEGER,
    last_error        TEXT,
    last_error_kind   TEXT,
    last_error_status INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    UNIQUE (inbox_id, flow)
);
CREATE INDEX runs_due ON runs (status, next_attempt_at);
CREATE INDEX runs_entity ON runs (entity_key, id);

-- Side effects, memoized by a deterministic idempotency key. A `started` step whose run was
-- interrupted, or one that failed with an unknown outcome, is looked up before it is retried.
CREATE TABLE steps (
    idempotency_key TEXT    PRIMARY KEY,
    run_id          INTEGER REFERENCES runs (id),
    name            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    output          TEXT,
    error           TEXT,
    error_kind      TEXT,
    error_status    INTEGER,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX steps_run ON steps (run_id);

-- Ids across systems (e-mail -> Zoho contact, ...), so known things are never searched again.
CREATE TABLE xrefs (
    system       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    external_key TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (system, kind, external_key)
);

-- Refunds (the SQLite store's version 4).
CREATE TABLE refunds (
    id                    TEXT    PRIMARY KEY,
    order_id              TEXT    NOT NULL REFERENCES orders (id),
    idempotency_key       TEXT    NOT NULL,
    request_fingerprint   TEXT    NOT NULL,
    inbox_id              BIGINT  NOT NULL REFERENCES inbox (id),
    amount_minor          BIGINT  NOT NULL,
    currency              TEXT    NOT NULL,
    reason                TEXT,
    source                TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    cybersource_refund_id TEXT    UNIQUE,
    status_detail         TEXT,
    zoho_creditnote_id    TEXT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    UNIQUE (order_id, idempotency_key)
);
CREATE INDEX refunds_order ON refunds (order_id);

-- Refunds of orders, requested through the order API or made in Cybersource. The sum of an
-- order's refunds that did not fail never exceeds what was charged (checked when one is
-- admitted, in the same transaction).
CREATE TABLE refunds (
    id                    TEXT    PRIMARY KEY,
    order_id              TEXT    NOT NULL REFERENCES orders (id),
    idempotency_key       TEXT    NOT NULL,
    request_fingerprint   TEXT    NOT NULL,
    inbox_id              INTEGER NOT NULL REFERENCES inbox (id),
    amount_minor          INTEGER NOT NULL,
    currency              TEXT    NOT NULL,
    reason                TEXT,
    source                TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    cybersource_refund_id TEXT    UNIQUE,
    status_detail         TEXT,
    zoho_creditnote_id    TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    UNIQUE (order_id, idempotency_key)
);
CREATE INDEX refunds_order ON refunds (order_id);

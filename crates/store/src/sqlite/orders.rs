//! Orders and refunds: admitted once per Idempotency-Key, with the runs their events start. (sqlite)
use crate::rows::Columns as _;

use super::{
    OwnedStep, SqliteStore, all, atomic, execute, insert_event, insert_fresh_step,
    insert_recorded_step, insert_run, one, scalar,
};
use crate::error::StoreError;
use crate::inbox::NewEvent;
use crate::orders::{
    Admission, NewOrder, NewRefund, OrderRecord, OrderStore, PaymentUpdate, RefundAdmission,
    RefundOutcome, RefundRecord, RefundStatus, ZohoIds,
};
use crate::rows::{json, order_columns, order_from_row, refund_columns, refund_from_row};
use crate::runs::{NewRun, OwnStep};
use paybridge_model::OrderStatus;
use rusqlite::{Connection, params};

impl OrderStore for SqliteStore {
    async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        let order = order.clone();
        // Written as text here, not on the writer's thread.
        let payment_input = order.payment_step.input.to_string();
        self.write(move |conn| {
            atomic(conn, |conn| {
                if let Some(existing) =
                    one(conn, ORDER_SELECT_BY_KEY, [&order.idempotency_key], |row| order_from_row(row))?
                {
                    return Ok(Admission::Existing(existing));
                }
                let inbox_id = insert_new_event(conn, &order.event, now)?;
                // A reference already taken fails the insert (UNIQUE): nothing of this admission stays.
                execute(
                    conn,
                    "INSERT INTO orders (id, reference, idempotency_key, request_fingerprint, inbox_id, status, currency,
                                         amount_minor, customer_email, card_brand, card_last4, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![
                        order.id,
                        order.reference,
                        order.idempotency_key,
                        order.request_fingerprint,
                        inbox_id,
                        OrderStatus::PendingPayment.as_str(),
                        order.currency,
                        order.amount_minor,
                        order.customer_email,
                        order.card_brand,
                        order.card_last4,
                        now,
                        now,
                    ],
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::ReferenceTaken {
                            reference: order.reference.clone(),
                        }
                    } else {
                        e
                    }
                })?;
                let step = &order.payment_step;
                let payment_begun =
                    insert_fresh_step(conn, None, &step.key, &step.name, Some(&payment_input), now)?;
                Ok(Admission::Admitted {
                    order: order.admitted(inbox_id, now),
                    payment_begun,
                })
            })
        })
        .await
    }

    async fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> Result<OrderRecord, StoreError> {
        let (order_id, update, runs) = (order_id.to_owned(), update.clone(), runs.to_vec());
        self.write(move |conn| {
            atomic(conn, |conn| {
                let changed = execute(
                    conn,
                    "UPDATE orders SET status = ?, payment_id = ?, payment_status = ?, decline_reason = ?,
                                       status_detail = ?, failure_kind = ?, updated_at = ?
                     WHERE id = ? AND status = ?",
                    params![
                        update.status.as_str(),
                        update.payment_id,
                        update.payment_status,
                        update.decline_reason,
                        update.status_detail,
                        update.failure_kind.map(|k| k.as_str()),
                        now,
                        order_id,
                        update.from.as_str(),
                    ],
                )?;
                if changed == 0 {
                    return Err(moved(conn, &order_id, update.from));
                }
                let record = one(conn, ORDER_SELECT_BY_ID, [&order_id], |row| order_from_row(row))?
                    .ok_or_else(|| StoreError::NotFound(format!("order {order_id}")))?;
                for run in &runs {
                    insert_run(conn, run, now)?;
                }
                Ok(record)
            })
        })
        .await
    }

    async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        let refund = refund.clone();
        self.write(move |conn| atomic(conn, |conn| admit_refund(conn, &refund, now)))
            .await
    }

    async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                concat!("SELECT ", refund_columns!(), " FROM refunds WHERE id = ?"),
                [id],
                |row| refund_from_row(row),
            )
        })
    }

    async fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> Result<Option<RefundRecord>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                concat!(
                    "SELECT ",
                    refund_columns!(),
                    " FROM refunds WHERE cybersource_refund_id = ?"
                ),
                [cybersource_refund_id],
                |row| refund_from_row(row),
            )
        })
    }

    async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        self.read(|conn| {
            all(
                conn,
                concat!(
                    "SELECT ",
                    refund_columns!(),
                    " FROM refunds WHERE order_id = ? ORDER BY created_at, id"
                ),
                [order_id],
                |row| refund_from_row(row),
            )
        })
    }

    async fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let id = id.to_owned();
        let status = outcome.status.as_str();
        let (refund_id, creditnote_id, detail) = (
            outcome.cybersource_refund_id.map(str::to_owned),
            outcome.zoho_creditnote_id.map(str::to_owned),
            outcome.detail.map(str::to_owned),
        );
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE refunds SET status = ?,
                        cybersource_refund_id = COALESCE(?, cybersource_refund_id),
                        zoho_creditnote_id = COALESCE(?, zoho_creditnote_id),
                        status_detail = ?, updated_at = ?
                 WHERE id = ?",
                params![status, refund_id, creditnote_id, detail, now, id],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("refund {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        let id = id.to_owned();
        self.read_hot(move |conn| one(conn, ORDER_SELECT_BY_ID, [id], |row| order_from_row(row)))
            .await
    }

    async fn order_by_reference(&self, reference: &str) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|conn| {
            one(conn, ORDER_SELECT_BY_REFERENCE, [reference], |row| {
                order_from_row(row)
            })
        })
    }

    async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.read(|conn| {
            one(conn, ORDER_SELECT_BY_ZOHO_INVOICE, [invoice_id], |row| {
                order_from_row(row)
            })
        })
    }

    async fn orders_unchanged_since(
        &self,
        status: OrderStatus,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        self.scan(move |conn| {
            all(
                conn,
                ORDER_SELECT_UNCHANGED,
                params![status.as_str(), before_ms, i64::from(limit)],
                |row| order_from_row(row),
            )
        })
        .await
    }

    async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        self.scan(move |conn| {
            all(conn, ORDER_SELECT_RECENT, [i64::from(limit)], |row| {
                order_from_row(row)
            })
        })
        .await
    }

    async fn set_order_status(
        &self,
        order_id: &str,
        from: OrderStatus,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let (order_id, detail) = (order_id.to_owned(), detail.map(str::to_owned));
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE orders SET status = ?, status_detail = COALESCE(?, status_detail), updated_at = ?
                  WHERE id = ? AND status = ?",
                params![status.as_str(), detail, now, order_id, from.as_str()],
            )?;
            if changed == 0 {
                return Err(moved(conn, &order_id, from));
            }
            Ok(())
        })
        .await
    }

    async fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let (order_id, ids) = (order_id.to_owned(), ids.clone());
        let step = OwnedStep::from(step);
        self.write(move |conn| {
            atomic(conn, |conn| {
                if let Some(before) = own_step(conn, &step, now)? {
                    return Ok(Some(before));
                }
                let changed = execute(
                    conn,
                    "UPDATE orders SET status = ?, zoho_contact_id = ?, zoho_invoice_id = ?, zoho_payment_id = ?,
                                       status_detail = NULL, updated_at = ?
                     WHERE id = ? AND status IN ('approved', 'sync_failed', 'completed')",
                    params![
                        OrderStatus::Completed.as_str(),
                        ids.contact_id,
                        ids.invoice_id,
                        ids.payment_id,
                        now,
                        order_id
                    ],
                )?;
                if changed == 0 {
                    return Err(moved(conn, &order_id, OrderStatus::Approved));
                }
                Ok(None)
            })
        })
        .await
    }
}

/// Why a transition from `expected` changed nothing: the order is in another state (or gone).
fn moved(conn: &Connection, order_id: &str, expected: OrderStatus) -> StoreError {
    match one(conn, ORDER_SELECT_BY_ID, [order_id], |row| {
        order_from_row(row)
    }) {
        Ok(Some(order)) => StoreError::StateMoved {
            order: order.reference,
            expected,
            found: order.status,
        },
        Ok(None) => StoreError::NotFound(format!("order {order_id}")),
        Err(e) => e,
    }
}

/// Records `step` as succeeded, for the write it is part of: `Some(output)` when it had
/// succeeded before (the write must not be done again), `None` when the write is to be done.
fn own_step(
    conn: &Connection,
    step: &OwnedStep,
    now: i64,
) -> Result<Option<serde_json::Value>, StoreError> {
    let (key, input, output) = (&step.key, &step.input, &step.output);
    if insert_recorded_step(conn, step.run_id, key, &step.name, Some(input), output, now)? {
        return Ok(None);
    }
    // Begun or failed before (by an earlier version of paybridge): this write finishes it.
    let before = one(
        conn,
        "SELECT status, output FROM steps WHERE idempotency_key = ?",
        [&step.key],
        |row| Ok((row.text("status")?, row.maybe_text("output")?)),
    )?;
    if let Some((status, output)) = before
        && status == "succeeded"
    {
        return Ok(Some(
            json(&step.key, "output", output)?.unwrap_or(serde_json::Value::Null),
        ));
    }
    execute(
        conn,
        "UPDATE steps SET status = 'succeeded', attempts = attempts + 1, run_id = COALESCE(?2, run_id),
                          input = ?3, output = ?4, error = NULL, error_kind = NULL, error_status = NULL,
                          error_request_id = NULL, started_at = ?5, finished_at = ?5
          WHERE idempotency_key = ?1",
        params![step.key, step.run_id, step.input, step.output, now],
    )?;
    Ok(None)
}

fn is_unique_violation(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn admit_refund(
    conn: &Connection,
    refund: &NewRefund,
    now: i64,
) -> Result<RefundAdmission, StoreError> {
    // One refund decision at a time per order (the writer is alone).
    let order = one(conn, ORDER_SELECT_BY_ID, [&refund.order_id], |row| {
        order_from_row(row)
    })?
    .ok_or_else(|| StoreError::NotFound(format!("order {}", refund.order_id)))?;
    let existing = one(
        conn,
        concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE (order_id = ? AND idempotency_key = ?) OR cybersource_refund_id = ?"
        ),
        params![
            refund.order_id,
            refund.idempotency_key,
            refund.cybersource_refund_id
        ],
        |row| refund_from_row(row),
    )?;
    if let Some(existing) = existing {
        return Ok(RefundAdmission::Existing(existing));
    }
    if order.payment_id.is_none()
        || !matches!(
            order.status,
            OrderStatus::Approved | OrderStatus::Completed | OrderStatus::SyncFailed
        )
    {
        return Ok(RefundAdmission::NotRefundable {
            status: order.status,
        });
    }
    let refunded: i64 = scalar(
        conn,
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE order_id = ? AND status <> 'failed'",
        [&refund.order_id],
    )?
    .unwrap_or(0);
    let refundable = order.amount_minor - refunded;
    if refund.amount_minor > refundable && !refund.made_already {
        return Ok(RefundAdmission::TooMuch {
            refundable_minor: refundable,
        });
    }
    let inbox_id = insert_new_event(conn, &refund.event, now)?;
    execute(
        conn,
        "INSERT INTO refunds (id, order_id, idempotency_key, request_fingerprint, inbox_id, amount_minor,
                              currency, reason, source, status, cybersource_refund_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            refund.id,
            refund.order_id,
            refund.idempotency_key,
            refund.request_fingerprint,
            inbox_id,
            refund.amount_minor,
            refund.currency,
            refund.reason,
            refund.source,
            RefundStatus::Requested.as_str(),
            refund.cybersource_refund_id,
            now,
            now,
        ],
    )?;
    for flow in &refund.flows {
        let run = NewRun {
            inbox_id,
            flow: flow.clone(),
            entity_key: refund.entity_key.clone(),
            not_before: None,
        };
        insert_run(conn, &run, now)?;
    }
    one(
        conn,
        concat!("SELECT ", refund_columns!(), " FROM refunds WHERE id = ?"),
        [&refund.id],
        |row| refund_from_row(row),
    )?
    .map(RefundAdmission::Admitted)
    .ok_or_else(|| StoreError::Corrupt(format!("refund {} vanished", refund.id)))
}

/// Adds an event that must be new (an order's or a refund's own); its id.
fn insert_new_event(conn: &Connection, event: &NewEvent, now: i64) -> Result<i64, StoreError> {
    insert_event(conn, event, now)?.ok_or_else(|| {
        StoreError::Corrupt(format!("inbox event {:?} is in already", event.dedupe_key))
    })
}

const ORDER_SELECT_BY_ID: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?");

const ORDER_SELECT_BY_KEY: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE idempotency_key = ?"
);

const ORDER_SELECT_BY_ZOHO_INVOICE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE zoho_invoice_id = ? LIMIT 1"
);

const ORDER_SELECT_BY_REFERENCE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE reference = ?"
);

const ORDER_SELECT_UNCHANGED: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE status = ?1 AND updated_at < ?2 ORDER BY updated_at LIMIT ?3"
);

const ORDER_SELECT_RECENT: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY created_at DESC, id LIMIT ?"
);

//! Orders and refunds: admitted once per Idempotency-Key, with the runs their events start. (postgres)
use crate::rows::Columns as _;

use super::{PostgresStore, insert_run, record_step_query};
use crate::error::StoreError;
use crate::inbox::NewEvent;
use crate::orders::{
    Admission, NewOrder, NewRefund, OrderRecord, OrderStore, PaymentUpdate, RefundAdmission,
    RefundOutcome, RefundRecord, RefundStatus, ZohoIds,
};
use crate::rows::{json, order_columns, order_from_row, refund_columns, refund_from_row};
use crate::runs::{NewRun, OwnStep};
use paybridge_model::OrderStatus;
use sqlx::{Postgres, Transaction};

impl OrderStore for PostgresStore {
    async fn admit_order(&self, order: &NewOrder, now: i64) -> Result<Admission, StoreError> {
        let mut tx = self.begin().await?;
        // One admission at a time per key and per reference, on every node.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('order-key:' || $1)), pg_advisory_xact_lock(hashtext('order-ref:' || $2))")
            .bind(&order.idempotency_key)
            .bind(&order.reference)
            .execute(&mut *tx)
            .await?;
        if let Some(existing) = sqlx::query(ORDER_SELECT_BY_KEY)
            .bind(&order.idempotency_key)
            .fetch_optional(&mut *tx)
            .await?
        {
            tx.commit().await?;
            return Ok(Admission::Existing(order_from_row(&existing)?));
        }
        let inbox_id = insert_event(&mut tx, &order.event, now).await?;
        // A reference already taken fails the insert (UNIQUE): nothing of this admission stays.
        let inserted = sqlx::query(concat!(
            "INSERT INTO orders (id, reference, idempotency_key, request_fingerprint, inbox_id, status, currency,
                                 amount_minor, customer_email, card_brand, card_last4, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ",
            order_columns!()
        ))
        .bind(&order.id)
        .bind(&order.reference)
        .bind(&order.idempotency_key)
        .bind(&order.request_fingerprint)
        .bind(inbox_id)
        .bind(OrderStatus::PendingPayment.as_str())
        .bind(&order.currency)
        .bind(order.amount_minor)
        .bind(&order.customer_email)
        .bind(&order.card_brand)
        .bind(&order.card_last4)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => StoreError::ReferenceTaken {
                reference: order.reference.clone(),
            },
            _ => StoreError::from(e),
        })?;
        let record = order_from_row(&inserted)?;
        let step = &order.payment_step;
        let payment_begun = sqlx::query(
            "INSERT INTO steps (idempotency_key, run_id, name, status, attempts, input, started_at)
             VALUES ($1, NULL, $2, 'started', 1, $3, $4)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&step.key)
        .bind(&step.name)
        .bind(step.input.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(Admission::Admitted {
            order: record,
            payment_begun,
        })
    }

    async fn record_payment(
        &self,
        order_id: &str,
        update: &PaymentUpdate,
        runs: &[NewRun],
        now: i64,
    ) -> Result<OrderRecord, StoreError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(concat!(
            "UPDATE orders SET status = $1, payment_id = $2, payment_status = $3, decline_reason = $4,
                               status_detail = $5, failure_kind = $6, updated_at = $7
             WHERE id = $8 AND status = $9 RETURNING ",
            order_columns!()
        ))
        .bind(update.status.as_str())
        .bind(&update.payment_id)
        .bind(&update.payment_status)
        .bind(&update.decline_reason)
        .bind(&update.status_detail)
        .bind(update.failure_kind.map(|k| k.as_str()))
        .bind(now)
        .bind(order_id)
        .bind(update.from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(updated) = updated else {
            drop(tx);
            return Err(self.moved(order_id, update.from).await);
        };
        let record = order_from_row(&updated)?;
        for run in runs {
            insert_run(&mut tx, run, now).await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    async fn admit_refund(
        &self,
        refund: &NewRefund,
        now: i64,
    ) -> Result<RefundAdmission, StoreError> {
        let mut tx = self.begin().await?;
        // One refund decision at a time per order.
        let order = sqlx::query(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE id = $1 FOR UPDATE"
        ))
        .bind(&refund.order_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| order_from_row(&row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("order {}", refund.order_id)))?;
        let existing = sqlx::query(concat!(
            "SELECT ", refund_columns!(),
            " FROM refunds WHERE (order_id = $1 AND idempotency_key = $2) OR cybersource_refund_id = $3"
        ))
        .bind(&refund.order_id)
        .bind(&refund.idempotency_key)
        .bind(&refund.cybersource_refund_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            tx.commit().await?;
            return Ok(RefundAdmission::Existing(refund_from_row(&row)?));
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
        let refunded: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE order_id = $1 AND status <> 'failed'",
        )
        .bind(&refund.order_id)
        .fetch_one(&mut *tx)
        .await?;
        let refundable = order.amount_minor - refunded;
        if refund.amount_minor > refundable && !refund.made_already {
            return Ok(RefundAdmission::TooMuch {
                refundable_minor: refundable,
            });
        }
        let inbox_id = insert_event(&mut tx, &refund.event, now).await?;
        sqlx::query(
            "INSERT INTO refunds (id, order_id, idempotency_key, request_fingerprint, inbox_id, amount_minor,
                                  currency, reason, source, status, cybersource_refund_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&refund.id)
        .bind(&refund.order_id)
        .bind(&refund.idempotency_key)
        .bind(&refund.request_fingerprint)
        .bind(inbox_id)
        .bind(refund.amount_minor)
        .bind(&refund.currency)
        .bind(&refund.reason)
        .bind(&refund.source)
        .bind(RefundStatus::Requested.as_str())
        .bind(&refund.cybersource_refund_id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for flow in &refund.flows {
            let run = NewRun {
                inbox_id,
                flow: flow.clone(),
                entity_key: refund.entity_key.clone(),
                not_before: None,
            };
            insert_run(&mut tx, &run, now).await?;
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE id = $1"
        ))
        .bind(&refund.id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefundAdmission::Admitted(refund_from_row(&row)?))
    }

    async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    async fn refund_by_cybersource_id(
        &self,
        cybersource_refund_id: &str,
    ) -> Result<Option<RefundRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE cybersource_refund_id = $1"
        ))
        .bind(cybersource_refund_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    async fn refunds_of(&self, order_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            refund_columns!(),
            " FROM refunds WHERE order_id = $1 ORDER BY created_at, id"
        ))
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(refund_from_row).collect()
    }

    async fn finish_refund(
        &self,
        id: &str,
        outcome: &RefundOutcome<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE refunds SET status = $1,
                    cybersource_refund_id = COALESCE($2, cybersource_refund_id),
                    zoho_creditnote_id = COALESCE($3, zoho_creditnote_id),
                    status_detail = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.cybersource_refund_id)
        .bind(outcome.zoho_creditnote_id)
        .bind(outcome.detail)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!("refund {id}")));
        }
        Ok(())
    }

    async fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_ID)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn order_by_reference(&self, reference: &str) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_REFERENCE)
            .bind(reference)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn order_by_zoho_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(ORDER_SELECT_BY_ZOHO_INVOICE)
            .bind(invoice_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn orders_unchanged_since(
        &self,
        status: OrderStatus,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let rows = sqlx::query(ORDER_SELECT_UNCHANGED)
            .bind(status.as_str())
            .bind(before_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn orders(&self, limit: u32) -> Result<Vec<OrderRecord>, StoreError> {
        let rows = sqlx::query(ORDER_SELECT_RECENT)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn set_order_status(
        &self,
        order_id: &str,
        from: OrderStatus,
        status: OrderStatus,
        detail: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE orders SET status = $1, status_detail = COALESCE($2, status_detail), updated_at = $3
              WHERE id = $4 AND status = $5",
        )
        .bind(status.as_str())
        .bind(detail)
        .bind(now)
        .bind(order_id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(self.moved(order_id, from).await);
        }
        Ok(())
    }

    async fn complete_order_sync(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        now: i64,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(before) = own_step(&mut tx, step, now).await? {
            return Ok(Some(before));
        }
        let changed = sqlx::query(
            "UPDATE orders SET status = $1, zoho_contact_id = $2, zoho_invoice_id = $3, zoho_payment_id = $4,
                               status_detail = NULL, updated_at = $5
             WHERE id = $6 AND status IN ('approved', 'sync_failed', 'completed')",
        )
        .bind(OrderStatus::Completed.as_str())
        .bind(&ids.contact_id)
        .bind(&ids.invoice_id)
        .bind(&ids.payment_id)
        .bind(now)
        .bind(order_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            drop(tx);
            return Err(self.moved(order_id, OrderStatus::Approved).await);
        }
        tx.commit().await?;
        Ok(None)
    }
}

impl PostgresStore {
    /// Why a transition from `expected` changed nothing: the order is in another state (or
    /// gone).
    async fn moved(&self, order_id: &str, expected: OrderStatus) -> StoreError {
        match self.order(order_id).await {
            Ok(Some(order)) => StoreError::StateMoved {
                order: order.reference,
                expected,
                found: order.status,
            },
            Ok(None) => StoreError::NotFound(format!("order {order_id}")),
            Err(e) => e,
        }
    }
}

/// Queues a run of `run.flow` for its event — or, when that flow already ran for the event and
/// succeeded, queues it again (a second lost payment on one order needs a second lookup; finished
/// steps are reused, so nothing is done twice). A run still queued, running or dead is left as
/// it is.
/// Commits a new event to the inbox (its dedupe key must be new); returns its id.
async fn insert_event(
    tx: &mut Transaction<'static, Postgres>,
    event: &NewEvent,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO inbox (source, dedupe_key, event_type, entity_key, payload, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&event.source)
    .bind(&event.dedupe_key)
    .bind(&event.event_type)
    .bind(&event.entity_key)
    .bind(event.payload.to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

const ORDER_SELECT_BY_ID: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");

const ORDER_SELECT_BY_KEY: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE idempotency_key = $1"
);

const ORDER_SELECT_BY_ZOHO_INVOICE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE zoho_invoice_id = $1 LIMIT 1"
);

const ORDER_SELECT_BY_REFERENCE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE reference = $1"
);

const ORDER_SELECT_UNCHANGED: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE status = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3"
);

const ORDER_SELECT_RECENT: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders ORDER BY created_at DESC, id LIMIT $1"
);

/// Records `step` as succeeded, for the write it is part of (in `tx`): `Some(output)` when it
/// had succeeded before (the write must not be done again), `None` when the write is to be done.
async fn own_step(
    tx: &mut Transaction<'static, Postgres>,
    step: OwnStep<'_>,
    now: i64,
) -> Result<Option<serde_json::Value>, StoreError> {
    let fresh = record_step_query(
        step.run_id,
        step.key,
        step.name,
        Some(step.input),
        step.output,
        now,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if fresh == 1 {
        return Ok(None);
    }
    // Begun or failed before (by an earlier version of paybridge): this write finishes it.
    let before =
        sqlx::query("SELECT status, output FROM steps WHERE idempotency_key = $1 FOR UPDATE")
            .bind(step.key)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some(row) = before
        && row.text("status")? == "succeeded"
    {
        return Ok(Some(
            json(step.key, "output", row.maybe_text("output")?)?.unwrap_or(serde_json::Value::Null),
        ));
    }
    sqlx::query(
        "UPDATE steps SET status = 'succeeded', attempts = attempts + 1, run_id = COALESCE($2, run_id),
                          input = $3, output = $4, error = NULL, error_kind = NULL, error_status = NULL,
                          error_request_id = NULL, started_at = $5, finished_at = $5
          WHERE idempotency_key = $1",
    )
    .bind(step.key)
    .bind(step.run_id)
    .bind(step.input.to_string())
    .bind(step.output.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(None)
}

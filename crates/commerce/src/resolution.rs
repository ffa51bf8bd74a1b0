//! Resolving a payment whose answer never came (reference §4.3): look it up; adopt what
//! Cybersource has; if it has nothing, void by transaction id to be sure and let the order be
//! placed again. Never a blind second charge.

use paybridge_cybersource::resolution::{Resolution, Unanswered};
use paybridge_model::{FailureKind, OrderStatus};

use paybridge_model::StepError;
use paybridge_store::{
    FailureRecord, InboxEvent, OrderStore as _, PaymentUpdate, RunStore as _, Steps, StoreError,
};

use crate::Commerce;
use crate::orders::OrderPlaced;
use crate::payments::{PaymentResult, order_update, payment_step_key, transaction_id_for};

/// How far back the search looks for the lost payment.
const SEARCH_DAYS: u32 = 2;

impl Commerce {
    /// Resolves the payment of the order an `order.placed` event placed (the
    /// `payment-resolution` run, queued when the payment's answer was lost).
    pub async fn resolve_payment(
        &self,
        steps: &Steps<'_>,
        event: &InboxEvent,
    ) -> Result<(), StepError> {
        let placed: OrderPlaced = serde_json::from_value(event.payload.clone()).map_err(|e| {
            StepError::permanent(
                "engine",
                format!("event {} is not an order.placed event: {e}", event.id),
            )
        })?;
        self.resolve_order(steps, &placed.order_id).await
    }

    /// Resolves the order's payment if its outcome is still unknown (a webhook may get here before
    /// the resolution run does; the step is shared, so whichever comes second reuses its result).
    pub(crate) async fn resolve_order(
        &self,
        steps: &Steps<'_>,
        order_id: &str,
    ) -> Result<(), StepError> {
        let store = &self.store;
        let record = store.order(order_id).await?.ok_or_else(|| {
            StepError::permanent("engine", format!("order {order_id} is not in the store"))
        })?;
        if record.status != OrderStatus::PaymentUnknown {
            return Ok(());
        }
        let payment_key = payment_step_key(&record.reference);
        let attempt = store
            .step(&payment_key)
            .await?
            .map_or(1, |s| s.attempts.max(1));
        let transaction_id = transaction_id_for(&record.id, attempt);
        let cybersource = &self.cybersource;

        // Found and adopted, or cancelled by a timeout void so that nothing surfaces later (the
        // payment was a sale). One step: its result is the truth, whatever happens next.
        let found: Option<PaymentResult> = steps
        .step(
            "cybersource.resolution",
            &format!("{payment_key}:{attempt}:resolution"),
            serde_json::json!({"order": record.reference, "transaction_id": transaction_id, "search_days": SEARCH_DAYS}),
            |_, _| async {
            let resolution = cybersource
                .resolve_unanswered(&record.reference, &transaction_id, &Unanswered::Voidable, SEARCH_DAYS)
                .await?;
            Ok(match resolution {
                Resolution::Found(details) => PaymentResult::from_details(&details),
                Resolution::NotFound { cancelled } => {
                    if cancelled {
                        tracing::warn!(order = %record.reference, "a payment that was not yet searchable was voided");
                    }
                    None
                }
            })
        })
        .await?;

        let now = self.clock.now_ms();
        match found {
            Some(result) => {
                tracing::info!(order = %record.reference, transaction = %result.transaction_id, outcome = ?result.outcome, "lost payment found; adopting its outcome");
                let output = serde_json::to_value(&result)
                    .map_err(|e| StepError::permanent("engine", e.to_string()))?;
                store.succeed_step(&payment_key, &output, now).await?;
                let outcome = result.outcome;
                let (update, runs) = order_update(&record, Ok(result), now, &*self.dispatch);
                let updated = match store.record_payment(&record.id, &update, &runs, now).await {
                    Ok(updated) => updated,
                    Err(StoreError::StateMoved { found, .. }) => {
                        tracing::info!(order = %record.reference, %found, "the order was resolved by another path meanwhile; left as it is");
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
                if !runs.is_empty() {
                    self.dispatch.queued();
                }
                self.alert_if_undecided(&updated, outcome, update.status_detail.as_deref(), &runs);
            }
            None => {
                let detail = "the payment's answer was lost and Cybersource has no standing payment for it: nothing was charged. Place the order again (the same Idempotency-Key may be used).";
                let resolved = FailureRecord {
                    message: detail.into(),
                    kind: FailureKind::Transient,
                    http_status: None,
                    request_id: None,
                    step: Some(crate::payments::PAYMENT_STEP.into()),
                };
                store.fail_step(&payment_key, &resolved, now).await?;
                let update = PaymentUpdate {
                    from: record.status,
                    status: OrderStatus::PaymentFailed,
                    payment_id: None,
                    payment_status: None,
                    decline_reason: None,
                    status_detail: Some(detail.into()),
                    failure_kind: Some(FailureKind::Transient),
                };
                match store.record_payment(&record.id, &update, &[], now).await {
                    Ok(_) | Err(StoreError::StateMoved { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                tracing::info!(order = %record.reference, "lost payment not found; nothing charged");
            }
        }
        self.dispatch.changed();
        Ok(())
    }
}

//! The payment step — charging an order with Cybersource — and what each answer, or its
//! absence, makes of the order.
//!
//! A payment whose answer never came is never sent again blindly. The order waits as
//! `payment_unknown` while a `payment-resolution` run, after Cybersource's prescribed pause
//! (reference §4.3), looks the payment up by its merchant reference and transaction id. If
//! Cybersource has it, its outcome is the order's; if not, a timeout void makes sure nothing
//! surfaces later, and the order may be placed again with the same Idempotency-Key.

use paybridge_cybersource::payments::{PaymentOutcome, PaymentResponse};
use paybridge_cybersource::search::TransactionDetails;
use paybridge_model::{FailureKind, OrderStatus};
use serde::{Deserialize, Serialize};

use paybridge_model::StepError;
use paybridge_store::{NewRun, OrderRecord, OrderStore as _, PaymentUpdate, StoreError};

use crate::{Commerce, Dispatch};

/// The run that resolves a payment whose answer was lost (the runtime's name for
/// [`Commerce::resolve_payment`]).
pub const RESOLUTION_RUN: &str = "payment-resolution";

/// How a payment ended, as far as the order is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Held,
    Declined,
}

/// The payment step's stored result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentResult {
    pub transaction_id: String,
    pub status: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// What Decision Manager said, when it screened the payment: `score`, `factor_codes`,
    /// `rules` (those that did not ignore it), `reason_codes`, `case_priority`.
    #[serde(default)]
    pub risk: Option<serde_json::Value>,
    /// The Cybersource tokens the payment made (`TOKEN_CREATE`): `customer_id`,
    /// `payment_instrument_id`, `instrument_identifier_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<serde_json::Value>,
}

impl PaymentResult {
    pub fn from_response(response: &PaymentResponse) -> PaymentResult {
        let (outcome, reason, message) = match response.outcome() {
            PaymentOutcome::Approved => (Outcome::Approved, None, None),
            PaymentOutcome::Held { reason } => (Outcome::Held, None, Some(reason)),
            PaymentOutcome::Declined { reason, message } => (
                Outcome::Declined,
                Some(reason.as_str().to_string()),
                Some(message),
            ),
        };
        let risk = response.risk_information.as_ref().map(|risk| {
            serde_json::json!({
                "score": risk.score(),
                "factor_codes": risk.score.as_ref().map(|s| s.factor_codes.clone()).unwrap_or_default(),
                "rules": risk.triggered_rules(),
                "reason_codes": response
                    .error_information
                    .as_ref()
                    .map(|e| vec![e.reason.as_str().to_string()])
                    .unwrap_or_default(),
                "case_priority": risk.case_priority,
            })
        });
        let tokens = response.token_information.as_ref().and_then(|t| {
            let id = |name: &str| t[name]["id"].as_str().map(str::to_string);
            let customer_id = id("customer")?;
            Some(serde_json::json!({
                "customer_id": customer_id,
                "payment_instrument_id": id("paymentInstrument"),
                "instrument_identifier_id": id("instrumentIdentifier"),
            }))
        });
        PaymentResult {
            transaction_id: response.id.clone(),
            status: response.status.as_str().to_string(),
            outcome,
            reason,
            message,
            risk,
            tokens,
        }
    }

    /// The outcome of a payment found through Transaction Search; `None` when it no longer
    /// stands (voided or reversed), which leaves nothing charged.
    pub fn from_details(details: &TransactionDetails) -> Option<PaymentResult> {
        let status = details.status.clone().unwrap_or_default();
        if matches!(status.as_str(), "VOIDED" | "REVERSED") {
            return None;
        }
        let authorized = details
            .application_information
            .application("ics_auth")
            .is_some_and(|a| a.succeeded());
        let outcome = match status.as_str() {
            "AUTHORIZED" if authorized => Outcome::Approved,
            "AUTHORIZED_PENDING_REVIEW" | "PARTIAL_AUTHORIZED" | "PENDING_REVIEW" if authorized => {
                Outcome::Held
            }
            _ => Outcome::Declined,
        };
        let reason = (outcome == Outcome::Declined).then(|| {
            details
                .application_information
                .reason_code
                .clone()
                .map_or_else(
                    || "DECLINED".to_string(),
                    |code| format!("reason code {code}"),
                )
        });
        Some(PaymentResult {
            transaction_id: details.id.clone(),
            status,
            outcome,
            reason,
            message: Some(
                "found through Transaction Search after the payment's answer was lost".into(),
            ),
            risk: details.risk_information.clone(),
            tokens: None,
        })
    }
}

/// The name of the order API's payment step.
pub const PAYMENT_STEP: &str = "cybersource.payment";

/// The idempotency key of an order's payment step.
pub fn payment_step_key(reference: &str) -> String {
    format!("order:{reference}:cybersource:payment")
}

/// The merchant's id for one payment attempt (`clientReferenceInformation.transactionId`, at
/// most 30 characters, unique per attempt): 28 hex digits of the order id and the attempt.
pub fn transaction_id_for(order_id: &str, attempt: u32) -> String {
    let hex = order_id.trim_start_matches("ord_");
    format!("{}{:02}", hex.get(..28).unwrap_or(hex), attempt % 100)
}

/// The runs an order event (`order.approved`, …) starts: one per flow it triggers, on the
/// order's own inbox event. Runs of one customer go in order (their contact is made once).
fn order_runs(record: &OrderRecord, event: &str, dispatch: &dyn Dispatch) -> Vec<NewRun> {
    dispatch
        .flows_for("order-api", event)
        .into_iter()
        .map(|flow| NewRun {
            inbox_id: record.inbox_id,
            flow,
            entity_key: format!("customer:{}", record.customer_email),
            not_before: None,
        })
        .collect()
}

impl Commerce {
    /// A held order's review was decided: it becomes approved (and the flows of
    /// `order.approved` run, order to cash among them) or declined (the flows of
    /// `order.declined`). An order no longer on hold is left as it is (`false`).
    pub async fn settle_review(
        &self,
        order_id: &str,
        accepted: bool,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let Some(record) = self.store.order(order_id).await? else {
            return Err(StoreError::NotFound(format!("order {order_id}")));
        };
        if record.status != OrderStatus::OnHold {
            return Ok(false);
        }
        let (status, event, reason) = if accepted {
            (OrderStatus::Approved, "order.approved", None)
        } else {
            (
                OrderStatus::Declined,
                "order.declined",
                Some("DECISION_PROFILE_REJECT".to_string()),
            )
        };
        let runs = order_runs(&record, event, &*self.dispatch);
        let update = PaymentUpdate {
            status,
            payment_id: record.payment_id.clone(),
            payment_status: record.payment_status.clone(),
            decline_reason: reason,
            status_detail: Some(detail.to_string()),
            failure_kind: None,
        };
        self.store
            .record_payment(&record.id, &update, &runs, self.clock.now_ms())
            .await?;
        self.dispatch.queued();
        self.dispatch.changed();
        Ok(true)
    }
}

/// What the payment step's result makes of the order, and the runs that follow: the flows
/// `flows` says the outcome's order event (`order.approved`, `order.declined`, `order.held`)
/// starts.
pub(crate) fn order_update(
    record: &OrderRecord,
    result: Result<PaymentResult, StepError>,
    resolve_at: i64,
    dispatch: &dyn Dispatch,
) -> (PaymentUpdate, Vec<NewRun>) {
    match result {
        Ok(paid) => {
            let (status, event) = match paid.outcome {
                Outcome::Approved => (OrderStatus::Approved, "order.approved"),
                Outcome::Held => (OrderStatus::OnHold, "order.held"),
                Outcome::Declined => (OrderStatus::Declined, "order.declined"),
            };
            let runs = order_runs(record, event, dispatch);
            let update = PaymentUpdate {
                status,
                payment_id: Some(paid.transaction_id),
                payment_status: Some(paid.status),
                decline_reason: paid.reason,
                status_detail: paid.message,
                failure_kind: None,
            };
            (update, runs)
        }
        Err(error) if error.kind == FailureKind::OutcomeUnknown => {
            let update = PaymentUpdate {
                status: OrderStatus::PaymentUnknown,
                payment_id: None,
                payment_status: None,
                decline_reason: None,
                status_detail: Some(format!("{error}; being resolved with Cybersource")),
                failure_kind: Some(error.kind),
            };
            let run = NewRun {
                inbox_id: record.inbox_id,
                flow: RESOLUTION_RUN.into(),
                entity_key: format!("order:{}", record.reference),
                not_before: Some(resolve_at),
            };
            (update, vec![run])
        }
        Err(error) => {
            let update = PaymentUpdate {
                status: OrderStatus::PaymentFailed,
                payment_id: None,
                payment_status: None,
                decline_reason: None,
                status_detail: Some(error.to_string()),
                failure_kind: Some(error.kind),
            };
            (update, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_fit_and_differ_per_attempt() {
        let order = "ord_019ab0c2d3e4f5a6b7c8d9e0f1a2b3c4";
        let first = transaction_id_for(order, 1);
        assert_eq!(first.len(), 30);
        assert_ne!(first, transaction_id_for(order, 2));
        assert!(first.starts_with("019ab0c2d3e4f5a6b7c8d9e0f1a2"));
    }
}

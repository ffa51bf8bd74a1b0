//! paybridge's own writes about the trigger's order: synced to Zoho, a held order's review
//! settled, a refund's end — through the commerce services.

use paybridge_flows::spec::{ActionSpec, Effect, Recovery, Type, opt, out, req};
use paybridge_model::StepError;
use paybridge_store::{OwnStep, RefundOutcome, RefundStatus, ZohoIds};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Action, Call, Runnable};

/// paybridge's own actions about orders.
pub static ACTIONS: &[&dyn Runnable] = &[&OrderSynced, &ReviewSettled, &RefundRecorded];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncedIds {
    contact_id: String,
    invoice_id: String,
    payment_id: String,
}

/// `order.synced`: the trigger's order is recorded as synced to Zoho (contact, invoice,
/// payment ids) — one write that records the step too, once per key.
pub struct OrderSynced;

impl Action for OrderSynced {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "order.synced",
        summary: "record the trigger's order as synced to Zoho",
        fields: Some(&[req("contact_id"), req("invoice_id"), req("payment_id")]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::RecordsItsOwnStep,
        recovery: Recovery::SameKey("the write is kept once per step key, with the step"),
    };
    type Input = SyncedIds;

    async fn run(&self, call: &Call<'_>, ids: SyncedIds) -> Result<Value, StepError> {
        let order_id = call.order_id().ok_or_else(|| {
            StepError::permanent("engine", "order.synced needs a flow triggered by an order")
        })?;
        let input = json!({
            "contact_id": ids.contact_id,
            "invoice_id": ids.invoice_id,
            "payment_id": ids.payment_id,
        });
        let output = json!({"done": true});
        let step = OwnStep {
            run_id: call.run_id,
            key: call.key,
            name: call.step,
            input: &input,
            output: &output,
        };
        let ids = ZohoIds {
            contact_id: ids.contact_id,
            invoice_id: ids.invoice_id,
            payment_id: ids.payment_id,
        };
        let before = call
            .env
            .commerce
            .order_synced(order_id, &ids, step, call.event, call.trigger)
            .await?;
        Ok(before.unwrap_or(output))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettledInput {
    accepted: bool,
    detail: String,
    /// The decline reason code when not accepted (`DECISION_PROFILE_REJECT` by default).
    #[serde(default)]
    reason: Option<String>,
}

/// `order.review-settled`: the trigger's held order becomes approved or declined, and that
/// event's flows run.
pub struct ReviewSettled;

impl Action for ReviewSettled {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "order.review-settled",
        summary: "the held order becomes approved or declined, and that event's flows run",
        fields: Some(&[req("accepted"), req("detail"), opt("reason")]),
        outputs: &[out("changed", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = ReviewSettledInput;

    async fn run(&self, call: &Call<'_>, input: ReviewSettledInput) -> Result<Value, StepError> {
        let order_id = call.order_id().ok_or_else(|| {
            StepError::permanent(
                "engine",
                "order.review-settled needs a flow triggered by an order",
            )
        })?;
        let changed = call
            .env
            .commerce
            .settle_review(
                order_id,
                input.accepted,
                input.reason.as_deref().filter(|r| !r.trim().is_empty()),
                &input.detail,
            )
            .await?;
        Ok(json!({"changed": changed}))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRefund {
    status: String,
    #[serde(default)]
    cybersource_refund_id: Option<String>,
    #[serde(default)]
    creditnote_id: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// `refund.recorded`: the trigger's refund is recorded as done (or failed).
pub struct RefundRecorded;

impl Action for RefundRecorded {
    const SPEC: &'static ActionSpec = &ActionSpec {
        name: "refund.recorded",
        summary: "record the trigger's refund as refunded or failed",
        fields: Some(&[
            req("status"),
            opt("cybersource_refund_id"),
            opt("creditnote_id"),
            opt("detail"),
        ]),
        outputs: &[out("done", Type::Boolean)],
        effect: Effect::Call,
        recovery: Recovery::Repeatable,
    };
    type Input = RecordedRefund;

    async fn run(&self, call: &Call<'_>, recorded: RecordedRefund) -> Result<Value, StepError> {
        let refund_id = call
            .event
            .payload
            .pointer("/refund/id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                StepError::permanent(
                    "engine",
                    "refund.recorded needs a flow triggered by a refund",
                )
            })?;
        let status = match recorded.status.as_str() {
            "refunded" => RefundStatus::Refunded,
            "failed" => RefundStatus::Failed,
            other => {
                return Err(StepError::permanent(
                    "engine",
                    format!("refund.recorded: status {other:?} is neither refunded nor failed"),
                ));
            }
        };
        call.env
            .commerce
            .finish_refund(
                refund_id,
                &RefundOutcome {
                    status,
                    cybersource_refund_id: recorded.cybersource_refund_id.as_deref(),
                    zoho_creditnote_id: recorded.creditnote_id.as_deref(),
                    detail: recorded.detail.as_deref(),
                },
            )
            .await?;
        Ok(json!({"done": true}))
    }
}

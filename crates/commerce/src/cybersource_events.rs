//! A Cybersource webhook, after the inbox accepted it: what it means for the order it is about.
//!
//! Events are matched to orders by the merchant reference they carry
//! (`clientReferenceInformation.code`) or by the payment id. An order whose payment answer was
//! lost is resolved at once (the event is news that the payment exists: it is looked up and
//! adopted, as the resolution flow would a minute later). A refund made in Cybersource (not
//! through paybridge) is adopted as the order's refund, which starts the refund flows (Books
//! credit note and refund). Events about payments paybridge does not know, or that change
//! nothing it tracks yet, are recorded and end there.

use serde_json::Value;

use paybridge_model::{OrderStatus, StepError};
use paybridge_store::{InboxEvent, InboxStore as _, NewEvent, OrderRecord, OrderStore as _, Steps};

use crate::Commerce;
use crate::refunds::{RefundError, refund_id_of_transaction};

/// The inbox payload of a Cybersource notification (as the ingress stores it).
fn reference_of(payload: &Value) -> Option<&str> {
    payload["payload"]
        .as_array()?
        .iter()
        .find_map(|item| item["data"]["clientReferenceInformation"]["code"].as_str())
}

/// The id of the transaction an event is about (`payload[].data.id`).
fn resource_of(payload: &Value) -> Option<&str> {
    payload["payload"]
        .as_array()?
        .iter()
        .find_map(|item| item["data"]["id"].as_str())
}

/// A reviewer's decision on a Decision Manager case: `Some(true)` accept, `Some(false)` reject.
fn review_decision(event_type: &str) -> Option<bool> {
    match event_type {
        "risk.casemanagement.decision.accept" => Some(true),
        "risk.casemanagement.decision.reject" => Some(false),
        _ => None,
    }
}

/// The order a case is about: its `referenceNumber` (case events carry no
/// `clientReferenceInformation`).
fn case_reference_of(payload: &Value) -> Option<&str> {
    payload["payload"]
        .as_array()?
        .iter()
        .find_map(|item| item["data"]["referenceNumber"].as_str())
}

fn is_refund(event_type: &str) -> bool {
    matches!(
        event_type,
        "payments.refund.status.accepted" | "payments.refunds.accept"
    )
}

impl Commerce {
    /// What a Cybersource notification the inbox accepted means for the order it is about.
    pub async fn cybersource_event(
        &self,
        steps: &Steps<'_>,
        event: &InboxEvent,
    ) -> Result<(), StepError> {
        let store = &self.store;
        let Some(reference) =
            reference_of(&event.payload).or_else(|| case_reference_of(&event.payload))
        else {
            tracing::info!(event = event.id, event_type = %event.event_type, "a Cybersource event names no merchant reference; recorded");
            return Ok(());
        };
        let Some(order) = store.order_by_reference(reference).await? else {
            tracing::info!(
                event = event.id,
                reference,
                "a Cybersource event about an order paybridge does not know; recorded"
            );
            return Ok(());
        };
        if let Some(accepted) = review_decision(&event.event_type) {
            return self.review_decided(&order, accepted, &event.payload).await;
        }
        if is_refund(&event.event_type)
            && let Some(refund_id) = resource_of(&event.payload)
        {
            return self.adopt_refund(&order, refund_id).await;
        }
        if order.status == OrderStatus::PaymentUnknown {
            tracing::info!(order = %order.reference, event_type = %event.event_type, "a webhook names a payment whose answer was lost: resolving it now");
            self.resolve_order(steps, &order.id).await?;
            self.dispatch.queued();
        }
        Ok(())
    }

    /// A refund Cybersource reports: paybridge's own (named by its merchant transaction id), or one
    /// made in Cybersource, which becomes the order's refund.
    async fn adopt_refund(
        &self,
        order: &OrderRecord,
        cybersource_refund_id: &str,
    ) -> Result<(), StepError> {
        if self
            .store
            .refund_by_cybersource_id(cybersource_refund_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let details = self.cybersource.transaction(cybersource_refund_id).await?;
        if let Some(ours) = details
            .client_reference_information
            .transaction_id
            .as_deref()
            .and_then(refund_id_of_transaction)
            && self.store.refund(&ours).await?.is_some()
        {
            tracing::debug!(refund = %ours, cybersource_refund_id, "the webhook of a refund paybridge made");
            return Ok(());
        }
        let amount = details
            .order_information
            .amount_details
            .as_ref()
            .and_then(|a| a.total_amount)
            .ok_or_else(|| {
                StepError::permanent(
                    "cybersource",
                    format!(
                        "refund {cybersource_refund_id} has no amount in its transaction details"
                    ),
                )
            })?;
        match self
            .adopt_cybersource_refund(
                order,
                cybersource_refund_id,
                amount,
                details
                    .order_information
                    .amount_details
                    .as_ref()
                    .and_then(|a| a.currency.as_deref()),
            )
            .await
        {
            Ok(Some(refund)) => {
                tracing::info!(order = %order.reference, refund = %refund.id, cybersource_refund_id, %amount, "a refund made in Cybersource is booked as the order's refund");
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(RefundError::Store(e)) => Err(e.into()),
            Err(e) => Err(StepError::permanent(
                "engine",
                format!(
                    "Cybersource refund {cybersource_refund_id} of order {}: {e}",
                    order.reference
                ),
            )),
        }
    }

    /// A reviewer decided a held order's case in Decision Manager (the case event's notes are
    /// the comments).
    async fn review_decided(
        &self,
        order: &OrderRecord,
        accepted: bool,
        payload: &Value,
    ) -> Result<(), StepError> {
        let notes: Vec<String> = payload["payload"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| {
                item["data"]["notes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|note| note["comments"].as_str().map(str::to_string))
            .collect();
        let decision = ReviewDecision {
            accepted,
            case_id: resource_of(payload).map(str::to_string),
            comments: notes.join(" / "),
        };
        self.decide_review(order, &decision).await?;
        Ok(())
    }
}

/// A person's decision on a held order: in Decision Manager (its case) or through the admin API.
#[derive(Debug, Clone)]
pub struct ReviewDecision {
    pub accepted: bool,
    /// The Decision Manager case, when the decision was made there.
    pub case_id: Option<String>,
    pub comments: String,
}

impl Commerce {
    /// A held order was decided: its `order.review_accepted` or `order.review_rejected` event
    /// starts the flows that capture or reverse the payment and settle the order (the shipped
    /// `review-decided` template). Once per order: `false` when the order is no longer on hold
    /// or a decision was already taken (the first one stands).
    pub async fn decide_review(
        &self,
        order: &OrderRecord,
        decision: &ReviewDecision,
    ) -> Result<bool, StepError> {
        if order.status != OrderStatus::OnHold {
            tracing::info!(order = %order.reference, status = %order.status, "a review decision about an order no longer on hold; recorded");
            return Ok(false);
        }
        let placed = self.store.inbox_event(order.inbox_id).await?;
        let event_type = if decision.accepted {
            "order.review_accepted"
        } else {
            "order.review_rejected"
        };
        let mut body = placed.payload.clone();
        body["review"] = serde_json::json!({
            "decision": if decision.accepted { "accept" } else { "reject" },
            "case_id": decision.case_id,
            "comments": decision.comments,
        });
        let new = NewEvent {
            source: "order-api".into(),
            dedupe_key: format!("review:{}", order.id),
            event_type: event_type.into(),
            entity_key: format!("customer:{}", order.customer_email),
            payload: body,
        };
        let published = self.publish(&new).await?;
        if !published.duplicate {
            tracing::info!(order = %order.reference, event_type, "a held order was decided");
        }
        Ok(!published.duplicate)
    }
}

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

use crate::error::StepError;
use crate::flows::payment_resolution;
use crate::runtime::RunContext;
use crate::store::InboxEvent;
use paybridge_model::OrderStatus;

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

fn is_refund(event_type: &str) -> bool {
    matches!(
        event_type,
        "payments.refund.status.accepted" | "payments.refunds.accept"
    )
}

pub(crate) async fn execute(ctx: &RunContext<'_>, event: &InboxEvent) -> Result<(), StepError> {
    let store = &ctx.engine.store;
    let Some(reference) = reference_of(&event.payload) else {
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
    if is_refund(&event.event_type)
        && let Some(refund_id) = resource_of(&event.payload)
    {
        return adopt_refund(ctx, &order, refund_id).await;
    }
    if order.status == OrderStatus::PaymentUnknown {
        tracing::info!(order = %order.reference, event_type = %event.event_type, "a webhook names a payment whose answer was lost: resolving it now");
        payment_resolution::resolve_order(ctx, &order.id).await?;
        ctx.engine.wake_workers();
    }
    Ok(())
}

/// A refund Cybersource reports: paybridge's own (named by its merchant transaction id), or one
/// made in Cybersource, which becomes the order's refund.
async fn adopt_refund(
    ctx: &RunContext<'_>,
    order: &crate::store::OrderRecord,
    cybersource_refund_id: &str,
) -> Result<(), StepError> {
    let engine = ctx.engine;
    if engine
        .store
        .refund_by_cybersource_id(cybersource_refund_id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let details = engine
        .connectors
        .cybersource
        .transaction(cybersource_refund_id)
        .await?;
    if let Some(ours) = details
        .client_reference_information
        .transaction_id
        .as_deref()
        .and_then(crate::refunds::refund_id_of_transaction)
        && engine.store.refund(&ours).await?.is_some()
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
                format!("refund {cybersource_refund_id} has no amount in its transaction details"),
            )
        })?;
    match engine
        .adopt_cybersource_refund(order, cybersource_refund_id, amount)
        .await
    {
        Ok(Some(refund)) => {
            tracing::info!(order = %order.reference, refund = %refund.id, cybersource_refund_id, %amount, "a refund made in Cybersource is booked as the order's refund");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(crate::refunds::RefundError::Store(e)) => Err(e.into()),
        Err(e) => Err(StepError::permanent("engine", e.to_string())),
    }
}

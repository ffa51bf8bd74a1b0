//! A Cybersource webhook, after the inbox accepted it: what it means for the order it is about.
//!
//! Events are matched to orders by the merchant reference they carry
//! (`clientReferenceInformation.code`) or by the payment id. An order whose payment answer was
//! lost is resolved at once (the event is news that the payment exists: it is looked up and
//! adopted, as the resolution flow would a minute later). Events about payments paybridge does
//! not know, or that change nothing it tracks yet, are recorded and end there.

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
    if order.status == OrderStatus::PaymentUnknown {
        tracing::info!(order = %order.reference, event_type = %event.event_type, "a webhook names a payment whose answer was lost: resolving it now");
        payment_resolution::resolve_order(ctx, &order.id).await?;
        ctx.engine.wake_workers();
    }
    Ok(())
}

//! What flows see of an order and what they write back about it: an order event's view (the
//! order as placed, and once Cybersource has answered, its payment), the event that starts the
//! flows of an order synced to Zoho whose payment saved a card, and a refund's end.

use paybridge_model::{Currency, Money, StepError};
use paybridge_store::{
    Accepted, InboxEvent, InboxStore as _, NewEvent, OrderStore as _, OwnStep, RefundOutcome,
    RunStore as _, StoreError, ZohoIds,
};
use serde_json::{Value, json};

use crate::Commerce;
use crate::payments::payment_step_key;

/// The event of an order synced to Zoho whose payment saved a card.
pub const CARD_SAVED_EVENT: &str = "order.card_saved";

/// The inbox source of the order API's events.
pub const ORDER_API: &str = "order-api";

/// The order an event from the order API is about (its `order_id`), if it is one.
pub fn order_of(event: &InboxEvent) -> Option<&str> {
    if event.source != ORDER_API {
        return None;
    }
    event.payload.get("order_id").and_then(Value::as_str)
}

impl Commerce {
    /// Commits `event` with a run of every flow it starts, and wakes the workers when it is
    /// new (the same event again changes nothing).
    pub async fn publish(&self, event: &NewEvent) -> Result<Accepted, StoreError> {
        let flows = self.dispatch.flows_for(&event.source, &event.event_type);
        let names: Vec<&str> = flows.iter().map(String::as_str).collect();
        let accepted = self
            .store
            .accept_event(event, &names, self.clock.now_ms())
            .await?;
        if !accepted.duplicate {
            self.dispatch.queued();
        }
        Ok(accepted)
    }

    /// What mappings see as `event`. Order API events carry the order and, once Cybersource
    /// has answered, the payment's outcome, its Decision Manager verdict and its tokens.
    pub async fn event_view(&self, event: &InboxEvent) -> Result<Value, StepError> {
        let mut view = event.payload.clone();
        let Some(order_id) = order_of(event) else {
            return Ok(view);
        };
        let record = self.store.order(order_id).await?.ok_or_else(|| {
            StepError::permanent("engine", format!("order {order_id} is not in the store"))
        })?;
        // Decision Manager's verdict and the tokens, from the payment step's stored result.
        let payment_step = self
            .store
            .step(&payment_step_key(&record.reference))
            .await?;
        let output = payment_step.as_ref().and_then(|step| step.output.as_ref());
        let risk = output
            .and_then(|output| output.get("risk").cloned())
            .filter(|risk| !risk.is_null())
            .unwrap_or_else(|| json!({}));
        // Made by the payment (`save_card`), or the TMS customer the storefront paid with.
        let tokens = output
            .and_then(|output| output.get("tokens").cloned())
            .filter(|tokens| !tokens.is_null())
            .or_else(|| {
                let paid_with = &payment_step.as_ref()?.input.as_ref()?["payment"];
                let customer = paid_with["tms_customer"].as_str()?;
                Some(json!({
                    "customer_id": customer,
                    "payment_instrument_id": paid_with["payment_instrument"],
                    "instrument_identifier_id": null,
                }))
            })
            .unwrap_or(Value::Null);
        let amount = Currency::from_code(&record.currency)
            .map(|c| Money::from_minor(record.amount_minor, c).to_decimal_string())
            .ok();
        if let Value::Object(fields) = &mut view {
            fields.insert("status".into(), json!(record.status.as_str()));
            fields.insert(
                "zoho".into(),
                json!({
                    "contact_id": record.zoho_contact_id,
                    "invoice_id": record.zoho_invoice_id,
                    "payment_id": record.zoho_payment_id,
                }),
            );
            fields.insert(
                "payment".into(),
                json!({
                    "transaction_id": record.payment_id,
                    "status": record.payment_status,
                    "reason": record.decline_reason,
                    "message": record.status_detail,
                    "amount": amount,
                    "currency": record.currency,
                    "risk": risk,
                    "tokens": tokens,
                }),
            );
        }
        Ok(view)
    }

    /// Marks `order_id` synced to Zoho (completed, with its Zoho ids) as `step`, in one write
    /// once per key: `None` when done now, else the step's stored output. Then, when the order's
    /// payment left a TMS customer (`trigger`: the event as the run read it), the order's
    /// `order.card_saved` event starts its flows — every time this is asked, so that a crash
    /// right after the write cannot lose it (the event is kept once per order).
    pub async fn order_synced(
        &self,
        order_id: &str,
        ids: &ZohoIds,
        step: OwnStep<'_>,
        placed: &InboxEvent,
        trigger: &Value,
    ) -> Result<Option<Value>, StepError> {
        let before = self
            .store
            .complete_order_sync(order_id, ids, step, self.clock.now_ms())
            .await?;
        self.card_saved(order_id, placed, trigger).await?;
        if before.is_none() {
            self.dispatch.changed();
        }
        Ok(before)
    }

    /// `order.card_saved` for an order whose payment (as `trigger` shows it) left a TMS
    /// customer: its flows write the tokens to the Zoho contact, which now exists.
    async fn card_saved(
        &self,
        order_id: &str,
        placed: &InboxEvent,
        trigger: &Value,
    ) -> Result<bool, StepError> {
        // Every order passes here: no store read unless some flow wants the event and the
        // payment left a TMS customer.
        if self
            .dispatch
            .flows_for(ORDER_API, CARD_SAVED_EVENT)
            .is_empty()
        {
            return Ok(false);
        }
        if trigger
            .pointer("/payment/tokens/customer_id")
            .is_none_or(Value::is_null)
        {
            return Ok(false);
        }
        let Some(order) = self.store.order(order_id).await? else {
            return Ok(false);
        };
        let new = NewEvent {
            source: ORDER_API.into(),
            dedupe_key: format!("card-saved:{order_id}"),
            event_type: CARD_SAVED_EVENT.into(),
            entity_key: format!("customer:{}", order.customer_email),
            payload: placed.payload.clone(),
        };
        self.publish(&new).await?;
        Ok(true)
    }

    /// Records how refund `refund_id` ended (refunded, or failed and counting for nothing).
    pub async fn finish_refund(
        &self,
        refund_id: &str,
        outcome: &RefundOutcome<'_>,
    ) -> Result<(), StoreError> {
        self.store
            .finish_refund(refund_id, outcome, self.clock.now_ms())
            .await?;
        self.dispatch.changed();
        Ok(())
    }
}

//! A Zoho Books webhook, after the inbox accepted it: what it means for paybridge's orders.
//!
//! A **credit note** for a paybridge order is a refund asked for in Books: the finance team
//! issues the credit note (against the order's invoice, or with the order's reference as its
//! `reference_number`) and paybridge refunds its balance on the card, then records the credit
//! note's refund in Books (the shipped `refund` template, source `books`). paybridge's own
//! credit notes (their reference is the refund's id), drafts and void notes, notes about other
//! invoices, and notes with nothing left to refund are recorded and end there. More than the
//! order can still refund fails the run with the amounts, before anything is called.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::StepError;
use crate::refunds::RefundError;
use crate::runtime::RunContext;
use crate::store::{InboxEvent, OrderRecord};

fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field].as_str().unwrap_or_default().trim()
}

/// A Books amount: a JSON number or a decimal string, read exactly.
fn decimal(record: &Value, field: &str) -> Option<Decimal> {
    match &record[field] {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) async fn execute(ctx: &RunContext<'_>, event: &InboxEvent) -> Result<(), StepError> {
    let record = &event.payload["record"];
    match event.event_type.as_str() {
        "books.creditnote" => credit_note(ctx, event, record).await,
        _ => Ok(()),
    }
}

async fn credit_note(
    ctx: &RunContext<'_>,
    event: &InboxEvent,
    note: &Value,
) -> Result<(), StepError> {
    let engine = ctx.engine;
    let id = text(note, "creditnote_id");
    if id.is_empty() {
        return Err(StepError::permanent(
            "zoho-books",
            "the credit note in the webhook has no creditnote_id",
        ));
    }
    let number = match text(note, "creditnote_number") {
        "" => id,
        number => number,
    };
    let reference = text(note, "reference_number");
    // paybridge's own credit notes (the refund template's) name their refund.
    if reference.starts_with("ref_") && engine.store.refund(reference).await?.is_some() {
        tracing::debug!(
            creditnote = number,
            "the webhook of a credit note paybridge made"
        );
        return Ok(());
    }
    match text(note, "status") {
        "draft" | "void" => {
            tracing::info!(
                event = event.id,
                creditnote = number,
                "a draft or void credit note; nothing to refund yet"
            );
            return Ok(());
        }
        _ => {}
    }
    let Some(order) = order_of(ctx, note, reference).await? else {
        tracing::info!(
            event = event.id,
            creditnote = number,
            "a credit note about no paybridge order; recorded"
        );
        return Ok(());
    };
    let currency = text(note, "currency_code");
    if !currency.is_empty() && !currency.eq_ignore_ascii_case(&order.currency) {
        return Err(StepError::permanent(
            "zoho-books",
            format!(
                "credit note {number} is in {currency}, but order {} was paid in {}: nothing was refunded",
                order.reference, order.currency
            ),
        ));
    }
    let balance = decimal(note, "balance").or_else(|| decimal(note, "total"));
    let Some(balance) = balance.filter(|b| *b > Decimal::ZERO) else {
        tracing::info!(creditnote = number, order = %order.reference, "a credit note with nothing left to refund");
        return Ok(());
    };
    match engine
        .adopt_books_credit_note(&order, id, number, balance)
        .await
    {
        Ok(Some(refund)) => {
            tracing::info!(order = %order.reference, refund = %refund.id, creditnote = number, %balance, "a credit note in Books is refunded on the card");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(RefundError::TooMuch { asked, refundable }) => Err(StepError::permanent(
            "engine",
            format!(
                "credit note {number} asks to refund {asked} for order {}, more than the {refundable} that can still be refunded: nothing was refunded (correct the credit note in Books, then replay)",
                order.reference
            ),
        )),
        Err(RefundError::Store(e)) => Err(e.into()),
        Err(e) => Err(StepError::permanent(
            "engine",
            format!("credit note {number} for order {}: {e}", order.reference),
        )),
    }
}

/// The order a credit note is for: named by its reference, or by its invoice (the order's
/// invoice in Books, or an invoice whose reference is the order's).
async fn order_of(
    ctx: &RunContext<'_>,
    note: &Value,
    reference: &str,
) -> Result<Option<OrderRecord>, StepError> {
    let store = &ctx.engine.store;
    if !reference.is_empty()
        && let Some(order) = store.order_by_reference(reference).await?
    {
        return Ok(Some(order));
    }
    let invoice_id = text(note, "invoice_id");
    if invoice_id.is_empty() {
        return Ok(None);
    }
    if let Some(order) = store.order_by_zoho_invoice(invoice_id).await? {
        return Ok(Some(order));
    }
    let invoice = ctx.engine.connectors.books.get_invoice(invoice_id).await?;
    match invoice.reference_number.as_deref().map(str::trim) {
        Some(reference) if !reference.is_empty() => Ok(store.order_by_reference(reference).await?),
        _ => Ok(None),
    }
}

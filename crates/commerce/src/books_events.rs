//! A Zoho Books webhook, after the inbox accepted it: what it means for paybridge's orders.
//!
//! A **credit note** for a paybridge order is a refund asked for in Books: the finance team
//! issues the credit note (against the order's invoice, or with the order's reference as its
//! `reference_number`) and paybridge refunds its balance on the card, then records the credit
//! note's refund in Books (the shipped `refund` template, source `books`). paybridge's own
//! credit notes (their reference is the refund's id), drafts and void notes, notes about other
//! invoices, and notes with nothing left to refund are recorded and end there. More than the
//! order can still refund fails the run with the amounts, before anything is called.

use paybridge_zoho::books::{CreditNote, CreditNoteStatus};
use rust_decimal::Decimal;

use paybridge_model::StepError;
use paybridge_store::{InboxEvent, OrderRecord, OrderStore as _};

use crate::Commerce;
use crate::refunds::RefundError;

/// A text field, trimmed; `None` when absent or empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Commerce {
    /// What a Zoho Books webhook the inbox accepted means for paybridge's orders.
    pub async fn books_event(&self, event: &InboxEvent) -> Result<(), StepError> {
        match event.event_type.as_str() {
            "books.creditnote" => {
                let note: CreditNote = serde_json::from_value(event.payload["record"].clone())
                    .map_err(|e| {
                        StepError::permanent(
                            "zoho-books",
                            format!("the webhook's record is not a Books credit note: {e}"),
                        )
                    })?;
                self.credit_note(event, &note).await
            }
            _ => Ok(()),
        }
    }

    async fn credit_note(&self, event: &InboxEvent, note: &CreditNote) -> Result<(), StepError> {
        let id = note.creditnote_id.trim();
        let number = given(&note.creditnote_number).unwrap_or(id);
        let reference = given(&note.reference_number).unwrap_or_default();
        // paybridge's own credit notes (the refund template's) name their refund.
        if reference.starts_with("ref_") && self.store.refund(reference).await?.is_some() {
            tracing::debug!(
                creditnote = number,
                "the webhook of a credit note paybridge made"
            );
            return Ok(());
        }
        if matches!(
            note.status,
            CreditNoteStatus::Draft | CreditNoteStatus::Void
        ) {
            tracing::info!(
                event = event.id,
                creditnote = number,
                "a draft or void credit note; nothing to refund yet"
            );
            return Ok(());
        }
        let Some(order) = self.order_of_credit_note(note, reference).await? else {
            tracing::info!(
                event = event.id,
                creditnote = number,
                "a credit note about no paybridge order; recorded"
            );
            return Ok(());
        };
        if let Some(currency) = given(&note.currency_code)
            && !currency.eq_ignore_ascii_case(&order.currency)
        {
            return Err(StepError::permanent(
                "zoho-books",
                format!(
                    "credit note {number} is in {currency}, but order {} was paid in {}: nothing was refunded",
                    order.reference, order.currency
                ),
            ));
        }
        if note.balance <= Decimal::ZERO {
            tracing::info!(creditnote = number, order = %order.reference, "a credit note with nothing left to refund");
            return Ok(());
        }
        let balance = note.balance;
        match self
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
    async fn order_of_credit_note(
        &self,
        note: &CreditNote,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StepError> {
        let store = &self.store;
        if !reference.is_empty()
            && let Some(order) = store.order_by_reference(reference).await?
        {
            return Ok(Some(order));
        }
        let Some(invoice_id) = given(&note.invoice_id) else {
            return Ok(None);
        };
        if let Some(order) = store.order_by_zoho_invoice(invoice_id).await? {
            return Ok(Some(order));
        }
        let invoice = self.books.get_invoice(invoice_id).await?;
        match invoice.reference_number.as_deref().map(str::trim) {
            Some(reference) if !reference.is_empty() => {
                Ok(store.order_by_reference(reference).await?)
            }
            _ => Ok(None),
        }
    }
}

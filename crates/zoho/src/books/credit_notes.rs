//! Books credit notes (§2.7): created against an invoice, applied, refunded, voided, found by reference.

use crate::client::segment;
use crate::client::to_value;
use crate::error::Error;
use crate::finance::{UniqueKey, Upserted};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::invoices::{InvoiceLine, InvoicePayment};
use super::payments::NewRefund;
use super::{Books, CustomField, CustomFieldValue};

paybridge_model::open_enum! {
    /// A credit note's `status` (§2.7).
    pub enum CreditNoteStatus {
        Draft = "draft",
        Open = "open",
        Closed = "closed",
        Void = "void",
    }
}

// ---------------------------------------------------------------------------------------------
// Credit notes

/// `POST /creditnotes`, optionally against an invoice.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCreditNote {
    pub customer_id: String,
    pub date: String,
    pub line_items: Vec<InvoiceLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub exchange_rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CreditNote {
    pub creditnote_id: String,
    #[serde(default)]
    pub creditnote_number: Option<String>,
    pub status: CreditNoteStatus,
    pub customer_id: String,
    #[serde(default)]
    pub invoice_id: Option<String>,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(with = "crate::number")]
    pub total: Decimal,
    #[serde(with = "crate::number")]
    pub balance: Decimal,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CreditNoteRefund {
    pub creditnote_refund_id: String,
    #[serde(default)]
    pub creditnote_id: Option<String>,
    #[serde(with = "crate::number")]
    pub amount: Decimal,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub reference_number: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct CreditApplications<'a> {
    invoices: &'a [InvoicePayment],
}

impl Books {
    // Credit notes -------------------------------------------------------------------------

    /// A credit note for the customer, against `invoice_id` when given.
    pub async fn create_credit_note(
        &self,
        note: &NewCreditNote,
        invoice_id: Option<&str>,
    ) -> Result<CreditNote, Error> {
        let query = match invoice_id {
            Some(id) => vec![("invoice_id", segment(id)?)],
            None => vec![],
        };
        self.post("/creditnotes", &query, note, "creditnote").await
    }

    pub async fn get_credit_note(&self, creditnote_id: &str) -> Result<CreditNote, Error> {
        self.get(
            &format!("/creditnotes/{}", segment(creditnote_id)?),
            "creditnote",
        )
        .await
    }

    /// Makes the credit note named by `key`'s unique custom field, once.
    pub async fn upsert_credit_note(
        &self,
        key: &UniqueKey,
        note: &NewCreditNote,
    ) -> Result<Upserted<CreditNote>, Error> {
        let body = to_value(note)?;
        self.finance
            .upsert("/creditnotes", key, true, &body, "creditnote")
            .await
    }

    /// Credit notes whose `reference_number` is exactly `reference`.
    pub async fn find_credit_notes_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<CreditNote>, Error> {
        let rows: Vec<CreditNote> = self
            .finance
            .list_all(
                "/creditnotes",
                &[("reference_number", reference)],
                "creditnotes",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|c| c.reference_number.as_deref() == Some(reference))
            .collect())
    }

    /// Applies the credit note's balance to invoices.
    pub async fn apply_credit_note(
        &self,
        creditnote_id: &str,
        invoices: &[InvoicePayment],
    ) -> Result<(), Error> {
        let _: serde_json::Value = self
            .post(
                &format!("/creditnotes/{}/invoices", segment(creditnote_id)?),
                &[],
                &CreditApplications { invoices },
                "",
            )
            .await?;
        Ok(())
    }

    /// Pays part of the credit note's balance back to the customer.
    pub async fn refund_credit_note(
        &self,
        creditnote_id: &str,
        refund: &NewRefund,
    ) -> Result<CreditNoteRefund, Error> {
        self.post(
            &format!("/creditnotes/{}/refunds", segment(creditnote_id)?),
            &[],
            refund,
            "creditnote_refund",
        )
        .await
    }

    pub async fn credit_note_refunds(
        &self,
        creditnote_id: &str,
    ) -> Result<Vec<CreditNoteRefund>, Error> {
        self.finance
            .list_all(
                &format!("/creditnotes/{}/refunds", segment(creditnote_id)?),
                &[],
                "creditnote_refunds",
            )
            .await
    }

    pub async fn void_credit_note(&self, creditnote_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/creditnotes/{}/status/void",
            segment(creditnote_id)?
        ))
        .await
    }
}

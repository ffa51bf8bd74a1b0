//! Books invoices (§2.5): created (numbered by Books or given), from a sales order, marked sent, voided, upserted, found by reference.

use crate::client::segment;
use crate::client::to_value;
use crate::error::Error;
use crate::finance::{UniqueKey, Upserted};
use futures::stream::BoxStream;
use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Books, CustomField, CustomFieldValue};

paybridge_model::open_enum! {
    /// An invoice's `status` (§2.5).
    pub enum InvoiceStatus {
        Draft = "draft",
        Sent = "sent",
        Viewed = "viewed",
        Overdue = "overdue",
        PartiallyPaid = "partially_paid",
        Paid = "paid",
        Void = "void",
        Unpaid = "unpaid",
    }
}

// ---------------------------------------------------------------------------------------------
// Invoices

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(with = "crate::number")]
    pub quantity: Decimal,
}

/// `POST /invoices`. The currency follows the customer's.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub customer_id: String,
    /// Given only with [`Books::create_invoice_numbered`] (auto-numbering off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    /// `yyyy-mm-dd` in the organization's time zone.
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    pub line_items: Vec<InvoiceLine>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub shipping_charge: Option<Decimal>,
    /// Required when the customer's currency is not the organization's.
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
pub struct Invoice {
    pub invoice_id: String,
    #[serde(default)]
    pub invoice_number: Option<String>,
    pub status: InvoiceStatus,
    pub customer_id: String,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default, with = "crate::number::option")]
    pub exchange_rate: Option<Decimal>,
    #[serde(with = "crate::number")]
    pub total: Decimal,
    #[serde(with = "crate::number")]
    pub balance: Decimal,
    #[serde(default, with = "crate::number::option")]
    pub payment_made: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub credits_applied: Option<Decimal>,
    #[serde(default)]
    pub salesorder_id: Option<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

// ---------------------------------------------------------------------------------------------
// Customer payments and refunds

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicePayment {
    pub invoice_id: String,
    #[serde(with = "crate::number")]
    pub amount_applied: Decimal,
}

impl Books {
    // Invoices -----------------------------------------------------------------------------

    pub async fn create_invoice(&self, invoice: &NewInvoice) -> Result<Invoice, Error> {
        self.post("/invoices", &[], invoice, "invoice").await
    }

    /// Creates an invoice under the number it carries (`ignore_auto_number_generation`): a
    /// deterministic number makes a repeated create fail instead of duplicating.
    pub async fn create_invoice_numbered(&self, invoice: &NewInvoice) -> Result<Invoice, Error> {
        if invoice.invoice_number.is_none() {
            return Err(Error::InvalidInput(
                "an invoice created without auto-numbering needs its invoice_number".into(),
            ));
        }
        self.post(
            "/invoices",
            &[("ignore_auto_number_generation", "true")],
            invoice,
            "invoice",
        )
        .await
    }

    pub async fn get_invoice(&self, invoice_id: &str) -> Result<Invoice, Error> {
        self.get(&format!("/invoices/{}", segment(invoice_id)?), "invoice")
            .await
    }

    /// Updates the invoice whose unique custom field has `key`'s value, or creates it.
    pub async fn upsert_invoice(
        &self,
        key: &UniqueKey,
        invoice: &NewInvoice,
    ) -> Result<Upserted<Invoice>, Error> {
        let body = to_value(invoice)?;
        self.finance
            .upsert("/invoices", key, true, &body, "invoice")
            .await
    }

    /// `POST /invoices/fromsalesorder`: invoices a confirmed sales order's lines.
    pub async fn invoice_sales_order(&self, salesorder_id: &str) -> Result<Invoice, Error> {
        self.finance
            .call(
                Method::POST,
                "/invoices/fromsalesorder",
                &[("salesorder_id", segment(salesorder_id)?)],
                None,
                "invoice",
            )
            .await
    }

    /// Invoices matching list filters (`customer_id`, `status`, `reference_number`, …).
    pub fn invoices(&self, filters: &[(&str, &str)]) -> BoxStream<'static, Result<Invoice, Error>> {
        self.finance.stream("/invoices", filters, "invoices")
    }

    /// Invoices whose `reference_number` is exactly `reference` (the list filter may match more
    /// loosely, so rows are checked).
    pub async fn find_invoices_by_reference(&self, reference: &str) -> Result<Vec<Invoice>, Error> {
        let rows: Vec<Invoice> = self
            .finance
            .list_all("/invoices", &[("reference_number", reference)], "invoices")
            .await?;
        Ok(rows
            .into_iter()
            .filter(|i| i.reference_number.as_deref() == Some(reference))
            .collect())
    }

    /// `draft` → `sent` without e-mailing the customer.
    pub async fn mark_invoice_sent(&self, invoice_id: &str) -> Result<(), Error> {
        self.status(&format!("/invoices/{}/status/sent", segment(invoice_id)?))
            .await
    }

    /// Voids an invoice (refused while payments or credits are applied to it).
    pub async fn void_invoice(&self, invoice_id: &str) -> Result<(), Error> {
        self.status(&format!("/invoices/{}/status/void", segment(invoice_id)?))
            .await
    }
}

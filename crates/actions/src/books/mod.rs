//! Zoho Books: contacts, invoices, customer payments, credit notes, refunds, exchange rates.

pub mod contacts;
pub mod invoices;
pub mod money;

use crate::Runnable;

/// The Books actions.
pub static ACTIONS: &[&dyn Runnable] = &[
    &contacts::Ensure,
    &contacts::Update,
    &contacts::Upsert,
    &invoices::Create,
    &invoices::FromSalesOrder,
    &invoices::MarkSent,
    &invoices::Void,
    &invoices::Upsert,
    &money::PaymentRecord,
    &money::PaymentRefund,
    &money::CreditNoteCreate,
    &money::CreditNoteRefund,
    &money::ExchangeRate,
];

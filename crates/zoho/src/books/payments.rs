//! Books customer payments (§2.6) applied to invoices, their refunds, and the bank accounts refunds are paid from.

use crate::client::segment;
use crate::client::to_value;
use crate::error::Error;
use crate::finance::{UniqueKey, Upserted};
use futures::stream::BoxStream;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::invoices::InvoicePayment;
use super::{Books, CustomField, CustomFieldValue};

/// `POST /customerpayments`: money received, applied to invoices.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerPayment {
    pub customer_id: String,
    /// `creditcard`, `banktransfer`, `cash`, … (free text is tolerated).
    pub payment_mode: String,
    #[serde(with = "crate::number")]
    pub amount: Decimal,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The bank or cash account deposited to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub exchange_rate: Option<Decimal>,
    pub invoices: Vec<InvoicePayment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CustomerPayment {
    pub payment_id: String,
    pub customer_id: String,
    #[serde(with = "crate::number")]
    pub amount: Decimal,
    #[serde(default, with = "crate::number::option")]
    pub unused_amount: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub amount_refunded: Option<Decimal>,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub invoices: Vec<AppliedInvoice>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AppliedInvoice {
    pub invoice_id: String,
    #[serde(with = "crate::number")]
    pub amount_applied: Decimal,
}

/// Money paid back: from a payment's unused amount or from a credit note's balance.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    pub date: String,
    #[serde(with = "crate::number")]
    pub amount: Decimal,
    /// The bank or cash account the money leaves from (see [`Books::bank_accounts`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_account_id: Option<String>,
    /// `cash`, `check`, `creditcard`, `banktransfer`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PaymentRefund {
    pub payment_refund_id: String,
    #[serde(default)]
    pub payment_id: Option<String>,
    #[serde(with = "crate::number")]
    pub amount: Decimal,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub refund_mode: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BankAccount {
    pub account_id: String,
    pub account_name: String,
    #[serde(default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
}

impl Books {
    // Customer payments -------------------------------------------------------------------

    pub async fn create_customer_payment(
        &self,
        payment: &NewCustomerPayment,
    ) -> Result<CustomerPayment, Error> {
        self.post("/customerpayments", &[], payment, "payment")
            .await
    }

    pub async fn get_customer_payment(&self, payment_id: &str) -> Result<CustomerPayment, Error> {
        self.get(
            &format!("/customerpayments/{}", segment(payment_id)?),
            "payment",
        )
        .await
    }

    /// Records the payment named by `key`'s unique custom field, once: a retry finds it.
    pub async fn upsert_customer_payment(
        &self,
        key: &UniqueKey,
        payment: &NewCustomerPayment,
    ) -> Result<Upserted<CustomerPayment>, Error> {
        let body = to_value(payment)?;
        self.finance
            .upsert("/customerpayments", key, true, &body, "payment")
            .await
    }

    /// Customer payments matching list filters, page by page.
    pub fn customer_payments(
        &self,
        filters: &[(&str, &str)],
    ) -> BoxStream<'static, Result<CustomerPayment, Error>> {
        self.finance
            .stream("/customerpayments", filters, "customerpayments")
    }

    /// Customer payments whose `reference_number` is exactly `reference`.
    pub async fn find_customer_payments_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<CustomerPayment>, Error> {
        let rows: Vec<CustomerPayment> = self
            .finance
            .list_all(
                "/customerpayments",
                &[("reference_number", reference)],
                "customerpayments",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|p| p.reference_number.as_deref() == Some(reference))
            .collect())
    }

    /// Refunds part of a payment's unused amount (what is applied to invoices is refunded
    /// through a credit note instead).
    pub async fn refund_customer_payment(
        &self,
        payment_id: &str,
        refund: &NewRefund,
    ) -> Result<PaymentRefund, Error> {
        if refund.from_account_id.is_none() {
            return Err(Error::InvalidInput(
                "a customer payment refund needs from_account_id".into(),
            ));
        }
        let refunds: Vec<PaymentRefund> = self
            .post(
                &format!("/customerpayments/{}/refunds", segment(payment_id)?),
                &[],
                refund,
                "payment_refunds",
            )
            .await?;
        refunds
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnexpectedResponse {
                status: 200,
                problem: "the refund answer lists no refund".into(),
                excerpt: String::new(),
                write: true,
            })
    }

    pub async fn customer_payment_refunds(
        &self,
        payment_id: &str,
    ) -> Result<Vec<PaymentRefund>, Error> {
        self.finance
            .list_all(
                &format!("/customerpayments/{}/refunds", segment(payment_id)?),
                &[],
                "payment_refunds",
            )
            .await
    }

    /// The organization's bank and cash accounts (deposits go to, refunds leave from them).
    pub async fn bank_accounts(&self) -> Result<Vec<BankAccount>, Error> {
        self.finance
            .list_all("/bankaccounts", &[], "bankaccounts")
            .await
    }
}

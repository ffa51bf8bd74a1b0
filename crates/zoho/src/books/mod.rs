//! Zoho Books v3 (zoho.md §2): contacts, items, invoices, customer payments and their refunds,
//! credit notes (applied and refunded), sales orders, currencies and exchange rates, and the
//! bank accounts refunds are paid from.
//!
//! Every call carries `organization_id` and spends from the organization's budget; every answer
//! is the `{code, message, <entity>}` envelope, in which any non-zero `code` is an error. Ids stay
//! strings; amounts are decimals, sent as JSON numbers rounded to the currency's precision.
//! Records can be upserted by a custom field configured "do not allow duplicate values"
//! ([`UniqueKey`]), which makes a retried write land once.

mod contacts;
mod credit_notes;
mod currencies;
mod invoices;
mod items;
mod organizations;
mod payments;
mod sales_orders;

pub use organizations::{Organization, organizations};

use crate::client::Client;
use crate::client::to_value;
use crate::error::Error;
use crate::finance::Finance;
pub use crate::finance::{UniqueKey, Upserted};
use http::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

pub use contacts::{Contact, ContactChanges, EnsuredContact, NewContact};
pub use credit_notes::{CreditNote, CreditNoteRefund, CreditNoteStatus, NewCreditNote};
pub use currencies::{Currency, ExchangeRate};
pub use invoices::{Invoice, InvoiceLine, InvoicePayment, InvoiceStatus, NewInvoice};
pub use items::{Item, NewItem};
pub use payments::{
    AppliedInvoice, BankAccount, CustomerPayment, NewCustomerPayment, NewRefund, PaymentRefund,
};
pub use sales_orders::{NewSalesOrder, SalesOrder, SalesOrderLine, SalesOrderStatus};

/// Zoho Books for one organization.
#[derive(Debug, Clone)]
pub struct Books {
    finance: Finance,
}

/// Rounds an amount to a currency's minor units as Books does (half away from zero).
pub fn round_to(amount: Decimal, precision: u32) -> Decimal {
    amount.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero)
}

// ---------------------------------------------------------------------------------------------
// Custom fields

/// A custom field to write, by API name (§2.9).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    pub api_name: String,
    pub value: String,
}

impl CustomField {
    pub fn new(api_name: impl Into<String>, value: impl Into<String>) -> CustomField {
        CustomField {
            api_name: api_name.into(),
            value: value.into(),
        }
    }
}

/// A custom field as Books echoes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct CustomFieldValue {
    #[serde(default)]
    pub customfield_id: Option<String>,
    #[serde(default)]
    pub api_name: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// The value of a custom field in a record's `custom_fields`.
pub fn custom_value<'a>(fields: &'a [CustomFieldValue], api_name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.api_name.as_deref() == Some(api_name))
        .and_then(|f| f.value.as_str())
}

// ---------------------------------------------------------------------------------------------
// Contacts

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPerson {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub is_primary_contact: bool,
}

// ---------------------------------------------------------------------------------------------
impl Books {
    pub(crate) fn new(client: Client, organization_id: String) -> Books {
        Books {
            finance: Finance {
                client,
                organization_id,
                base: "/books/v3",
            },
        }
    }

    pub fn organization_id(&self) -> &str {
        &self.finance.organization_id
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &impl Serialize,
        key: &str,
    ) -> Result<T, Error> {
        let body = to_value(body)?;
        self.finance
            .call(Method::POST, path, query, Some(&body), key)
            .await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str, key: &str) -> Result<T, Error> {
        self.finance.call(Method::GET, path, &[], None, key).await
    }

    async fn status(&self, path: &str) -> Result<(), Error> {
        let _: serde_json::Value = self.finance.call(Method::POST, path, &[], None, "").await?;
        Ok(())
    }
}

impl Client {
    /// Zoho Books for one organization.
    pub fn books(&self, organization_id: impl Into<String>) -> Books {
        Books::new(self.clone(), organization_id.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::segment;

    #[test]
    fn amounts_are_sent_as_numbers_and_read_exactly() {
        let line = InvoiceLine {
            item_id: None,
            name: "Tea".into(),
            description: None,
            rate: Decimal::new(10221, 2),
            quantity: Decimal::ONE,
        };
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"name":"Tea","rate":102.21,"quantity":1}"#
        );
        let invoice: Invoice = serde_json::from_str(
            r#"{"invoice_id":"1","status":"paid","customer_id":"2","total":102.21,"balance":0}"#,
        )
        .unwrap();
        assert_eq!(invoice.total, Decimal::new(10221, 2));
        assert_eq!(invoice.status, InvoiceStatus::Paid);
    }

    #[test]
    fn rounding_follows_the_currency() {
        assert_eq!(round_to(Decimal::new(10005, 3), 2), Decimal::new(1001, 2));
        assert_eq!(round_to(Decimal::new(12345, 1), 0), Decimal::new(1235, 0));
        assert_eq!(round_to(Decimal::new(-10005, 3), 2), Decimal::new(-1001, 2));
    }

    #[test]
    fn ids_in_paths_are_checked() {
        assert!(segment("460000000026049").is_ok());
        assert!(segment("../contacts").is_err());
        assert!(segment("").is_err());
    }

    #[test]
    fn unknown_statuses_are_kept() {
        let s: SalesOrderStatus = serde_json::from_str(r#""partially_invoiced""#).unwrap();
        assert_eq!(s, SalesOrderStatus::Unknown("partially_invoiced".into()));
    }
}

//! Zoho Books v3 (zoho.md §2): contacts, items, invoices, customer payments and their refunds,
//! credit notes (applied and refunded), sales orders, currencies and exchange rates, and the
//! bank accounts refunds are paid from.
//!
//! Every call carries `organization_id` and spends from the organization's budget; every answer
//! is the `{code, message, <entity>}` envelope, in which any non-zero `code` is an error. Ids stay
//! strings; amounts are decimals, sent as JSON numbers rounded to the currency's precision.
//! Records can be upserted by a custom field configured "do not allow duplicate values"
//! ([`UniqueKey`]), which makes a retried write land once.

use futures::stream::BoxStream;
use http::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::client::to_value;
use crate::client::{Client, segment};
use crate::error::{DUPLICATE_CONTACT_NAME, Error};
use crate::finance::Finance;
pub use crate::finance::{UniqueKey, Upserted};

/// Zoho Books for one organization.
#[derive(Debug, Clone)]
pub struct Books {
    finance: Finance,
}

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

paybridge_model::open_enum! {
    /// A credit note's `status` (§2.7).
    pub enum CreditNoteStatus {
        Draft = "draft",
        Open = "open",
        Closed = "closed",
        Void = "void",
    }
}

paybridge_model::open_enum! {
    /// A sales order's `status`: Books says `open` where Inventory says `confirmed`.
    pub enum SalesOrderStatus {
        Draft = "draft",
        Open = "open",
        Confirmed = "confirmed",
        Closed = "closed",
        Fulfilled = "fulfilled",
        Void = "void",
        OnHold = "onhold",
    }
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

/// `POST /contacts` (and `PUT` to update). `contact_name` must be unique across the
/// organization's customers and vendors (code 3062 otherwise).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub contact_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// `customer` or `vendor`.
    pub contact_type: String,
    /// `business` or `individual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_sub_type: Option<String>,
    /// Fixes the contact's transaction currency (the organization's base when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_id: Option<String>,
    /// Days until invoices fall due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_persons: Vec<ContactPerson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Changes to a contact: only the fields given are sent, and only they change (custom fields
/// by `api_name`, one by one).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// Replaces the contact persons (the primary one's e-mail is the contact's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_persons: Vec<ContactPerson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Contact {
    pub contact_id: String,
    pub contact_name: String,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub contact_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// The primary contact person's e-mail.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub currency_id: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default, with = "crate::number::option")]
    pub outstanding_receivable_amount: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub unused_credits_receivable_amount: Option<Decimal>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

/// A contact found or made by [`Books::ensure_contact`].
#[derive(Debug, Clone)]
pub struct EnsuredContact {
    pub contact: Contact,
    pub created: bool,
}

// ---------------------------------------------------------------------------------------------
// Items

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub name: String,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `goods`, `service` or `digital_service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// `sales`, `purchases`, `sales_and_purchases` or `inventory` (stock-tracked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub purchase_rate: Option<Decimal>,
    /// Opening stock of an inventory item (Inventory).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub initial_stock: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub reorder_level: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Item {
    pub item_id: String,
    pub name: String,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub item_type: Option<String>,
    #[serde(default)]
    pub product_type: Option<String>,
    #[serde(default, with = "crate::number::option")]
    pub stock_on_hand: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub available_stock: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub committed_stock: Option<Decimal>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
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

// ---------------------------------------------------------------------------------------------
// Sales orders

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewSalesOrder {
    pub customer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salesorder_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment_date: Option<String>,
    pub line_items: Vec<InvoiceLine>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub shipping_charge: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::number::option"
    )]
    pub exchange_rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SalesOrderLine {
    pub line_item_id: String,
    #[serde(default)]
    pub item_id: Option<String>,
    pub name: String,
    #[serde(with = "crate::number")]
    pub quantity: Decimal,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
    #[serde(default, with = "crate::number::option")]
    pub quantity_packed: Option<Decimal>,
    #[serde(default, with = "crate::number::option")]
    pub quantity_shipped: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SalesOrder {
    pub salesorder_id: String,
    #[serde(default)]
    pub salesorder_number: Option<String>,
    pub status: SalesOrderStatus,
    pub customer_id: String,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub invoiced_status: Option<String>,
    #[serde(default)]
    pub shipped_status: Option<String>,
    #[serde(with = "crate::number")]
    pub total: Decimal,
    #[serde(default)]
    pub line_items: Vec<SalesOrderLine>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

// ---------------------------------------------------------------------------------------------
// Currencies

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Currency {
    pub currency_id: String,
    pub currency_code: String,
    #[serde(default)]
    pub price_precision: Option<u32>,
    #[serde(default)]
    pub is_base_currency: bool,
    #[serde(default, with = "crate::number::option")]
    pub exchange_rate: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExchangeRate {
    pub exchange_rate_id: String,
    #[serde(default)]
    pub currency_id: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    pub effective_date: String,
    #[serde(with = "crate::number")]
    pub rate: Decimal,
}

#[derive(Serialize)]
struct NewExchangeRate<'a> {
    effective_date: &'a str,
    #[serde(with = "crate::number")]
    rate: Decimal,
}

#[derive(Serialize)]
struct CreditApplications<'a> {
    invoices: &'a [InvoicePayment],
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

    // Contacts ----------------------------------------------------------------------------

    pub async fn create_contact(&self, contact: &NewContact) -> Result<Contact, Error> {
        self.post("/contacts", &[], contact, "contact").await
    }

    pub async fn get_contact(&self, contact_id: &str) -> Result<Contact, Error> {
        self.get(&format!("/contacts/{}", segment(contact_id)?), "contact")
            .await
    }

    /// `PUT /contacts/{id}`: the fields given replace the contact's.
    pub async fn update_contact(
        &self,
        contact_id: &str,
        contact: &NewContact,
    ) -> Result<Contact, Error> {
        let body = to_value(contact)?;
        self.finance
            .call(
                Method::PUT,
                &format!("/contacts/{}", segment(contact_id)?),
                &[],
                Some(&body),
                "contact",
            )
            .await
    }

    /// `PUT /contacts/{id}` with only the fields that change.
    pub async fn change_contact(
        &self,
        contact_id: &str,
        changes: &ContactChanges,
    ) -> Result<Contact, Error> {
        let body = to_value(changes)?;
        self.finance
            .call(
                Method::PUT,
                &format!("/contacts/{}", segment(contact_id)?),
                &[],
                Some(&body),
                "contact",
            )
            .await
    }

    /// Updates the contact whose unique custom field has `key`'s value, or creates it.
    pub async fn upsert_contact(
        &self,
        key: &UniqueKey,
        contact: &NewContact,
    ) -> Result<Upserted<Contact>, Error> {
        let body = to_value(contact)?;
        self.finance
            .upsert("/contacts", key, true, &body, "contact")
            .await
    }

    /// The contacts matching list filters (`email`, `contact_name`, `contact_type`,
    /// `search_text`, …), page by page.
    pub fn contacts(&self, filters: &[(&str, &str)]) -> BoxStream<'static, Result<Contact, Error>> {
        self.finance.stream("/contacts", filters, "contacts")
    }

    /// Customers whose primary contact person has this e-mail (exact, case-insensitive).
    pub async fn find_customers_by_email(&self, email: &str) -> Result<Vec<Contact>, Error> {
        let rows: Vec<Contact> = self
            .finance
            .list_all(
                "/contacts",
                &[("email", email), ("contact_type", "customer")],
                "contacts",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|c| {
                c.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .collect())
    }

    /// The contact with exactly this display name, if any (names are unique per organization).
    pub async fn find_contact_by_name(&self, name: &str) -> Result<Option<Contact>, Error> {
        let rows: Vec<Contact> = self
            .finance
            .list_all("/contacts", &[("contact_name", name)], "contacts")
            .await?;
        Ok(rows.into_iter().find(|c| c.contact_name == name))
    }

    /// Creates the contact, or, when its display name is taken (3062), finds the contact that
    /// has it: the existing record is the answer, as zoho.md §6 prescribes.
    pub async fn ensure_contact(&self, contact: &NewContact) -> Result<EnsuredContact, Error> {
        match self.create_contact(contact).await {
            Ok(contact) => Ok(EnsuredContact {
                contact,
                created: true,
            }),
            Err(e) if e.books_code() == Some(DUPLICATE_CONTACT_NAME) => {
                let existing = self
                    .find_contact_by_name(&contact.contact_name)
                    .await?
                    .ok_or(e)?;
                Ok(EnsuredContact {
                    contact: existing,
                    created: false,
                })
            }
            Err(e) => Err(e),
        }
    }

    // Items --------------------------------------------------------------------------------

    pub async fn create_item(&self, item: &NewItem) -> Result<Item, Error> {
        self.post("/items", &[], item, "item").await
    }

    pub async fn get_item(&self, item_id: &str) -> Result<Item, Error> {
        self.get(&format!("/items/{}", segment(item_id)?), "item")
            .await
    }

    pub async fn upsert_item(
        &self,
        key: &UniqueKey,
        item: &NewItem,
    ) -> Result<Upserted<Item>, Error> {
        let body = to_value(item)?;
        self.finance
            .upsert("/items", key, true, &body, "item")
            .await
    }

    /// Items matching list filters (`name`, `sku`, `search_text`, …), page by page.
    pub fn items(&self, filters: &[(&str, &str)]) -> BoxStream<'static, Result<Item, Error>> {
        self.finance.stream("/items", filters, "items")
    }

    /// The item with exactly this SKU, if any.
    pub async fn find_item_by_sku(&self, sku: &str) -> Result<Option<Item>, Error> {
        let rows: Vec<Item> = self
            .finance
            .list_all("/items", &[("sku", sku)], "items")
            .await?;
        Ok(rows.into_iter().find(|i| i.sku.as_deref() == Some(sku)))
    }

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

    // Sales orders -------------------------------------------------------------------------

    pub async fn create_sales_order(&self, order: &NewSalesOrder) -> Result<SalesOrder, Error> {
        let body = to_value(order)?;
        let answer = self
            .finance
            .send(Method::POST, "/salesorders", &[], &[], Some(&body))
            .await?;
        crate::finance::extract(&answer, &["salesorder", "sales_order"])
    }

    pub async fn get_sales_order(&self, salesorder_id: &str) -> Result<SalesOrder, Error> {
        self.get(
            &format!("/salesorders/{}", segment(salesorder_id)?),
            "salesorder",
        )
        .await
    }

    /// Books' confirmation of a sales order (`draft` → `open`).
    pub async fn open_sales_order(&self, salesorder_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/salesorders/{}/status/open",
            segment(salesorder_id)?
        ))
        .await
    }

    pub async fn void_sales_order(&self, salesorder_id: &str) -> Result<(), Error> {
        self.status(&format!(
            "/salesorders/{}/status/void",
            segment(salesorder_id)?
        ))
        .await
    }

    // Currencies ---------------------------------------------------------------------------

    pub async fn currencies(&self) -> Result<Vec<Currency>, Error> {
        self.finance
            .list_all("/settings/currencies", &[], "currencies")
            .await
    }

    /// Adds a currency the organization can invoice in (its base currency is fixed).
    pub async fn add_currency(&self, code: &str, symbol: &str) -> Result<Currency, Error> {
        #[derive(Serialize)]
        struct NewCurrency<'a> {
            currency_code: &'a str,
            currency_symbol: &'a str,
            currency_format: &'a str,
        }
        self.post(
            "/settings/currencies",
            &[],
            &NewCurrency {
                currency_code: code,
                currency_symbol: symbol,
                currency_format: "1,234,567.89",
            },
            "currency",
        )
        .await
    }

    /// The organization's rates for a currency, newest first.
    pub async fn exchange_rates(&self, currency_id: &str) -> Result<Vec<ExchangeRate>, Error> {
        self.finance
            .list_all(
                &format!(
                    "/settings/currencies/{}/exchangerates",
                    segment(currency_id)?
                ),
                &[],
                "exchange_rates",
            )
            .await
    }

    /// The rate effective on `date` (`yyyy-mm-dd`): the newest one not after it.
    pub async fn exchange_rate_on(
        &self,
        currency_id: &str,
        date: &str,
    ) -> Result<Option<ExchangeRate>, Error> {
        Ok(self
            .exchange_rates(currency_id)
            .await?
            .into_iter()
            .filter(|r| r.effective_date.as_str() <= date)
            .max_by(|a, b| a.effective_date.cmp(&b.effective_date)))
    }

    pub async fn add_exchange_rate(
        &self,
        currency_id: &str,
        effective_date: &str,
        rate: Decimal,
    ) -> Result<ExchangeRate, Error> {
        self.post(
            &format!(
                "/settings/currencies/{}/exchangerates",
                segment(currency_id)?
            ),
            &[],
            &NewExchangeRate {
                effective_date,
                rate,
            },
            "exchange_rate",
        )
        .await
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

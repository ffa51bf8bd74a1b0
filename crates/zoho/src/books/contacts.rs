//! Books contacts (§2.3): created, read, changed (custom fields one by one), upserted, found by e-mail or name, and ensured once.

use crate::client::segment;
use crate::client::to_value;
use crate::error::{DUPLICATE_CONTACT_NAME, Error};
use crate::finance::{UniqueKey, Upserted};
use futures::stream::BoxStream;
use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Address, Books, ContactPerson, CustomField, CustomFieldValue};

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

impl Books {
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
}

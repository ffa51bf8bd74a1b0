//! Zoho Books v3: contacts, invoices and customer payments (zoho.md §2).
//!
//! Every call carries `organization_id`; every answer is the `{code, message, <entity>}`
//! envelope, and any non-zero `code` is an error whatever the HTTP status. Ids stay strings;
//! amounts are decimals, sent as JSON numbers already rounded to the currency's precision.

use http::Method;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{Answer, Call, Client, Meter};
use crate::error::Error;
use crate::quota::Product;

/// Zoho Books for one organization.
#[derive(Debug, Clone)]
pub struct Books {
    client: Client,
    organization_id: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct ContactPerson {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub is_primary_contact: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomField {
    pub api_name: String,
    pub value: String,
}

/// `POST /contacts`. `contact_name` must be unique across the organization's customers and
/// vendors (code 3062 otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct NewContact {
    pub contact_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    pub contact_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_sub_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contact_persons: Vec<ContactPerson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
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
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(with = "rust_decimal::serde::float")]
    pub rate: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    pub quantity: Decimal,
}

/// `POST /invoices`. The currency follows the customer's.
#[derive(Debug, Clone, Serialize)]
pub struct NewInvoice {
    pub customer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    /// `yyyy-mm-dd` in the organization's time zone.
    pub date: String,
    pub line_items: Vec<InvoiceLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    pub currency_code: Option<String>,
    #[serde(with = "rust_decimal::serde::float")]
    pub total: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    pub balance: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoicePayment {
    pub invoice_id: String,
    #[serde(with = "rust_decimal::serde::float")]
    pub amount_applied: Decimal,
}

/// `POST /customerpayments`: money received, applied to invoices.
#[derive(Debug, Clone, Serialize)]
pub struct NewCustomerPayment {
    pub customer_id: String,
    /// `creditcard`, `banktransfer`, `cash`, … (free text is tolerated).
    pub payment_mode: String,
    #[serde(with = "rust_decimal::serde::float")]
    pub amount: Decimal,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub invoices: Vec<InvoicePayment>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CustomerPayment {
    pub payment_id: String,
    pub customer_id: String,
    #[serde(with = "rust_decimal::serde::float")]
    pub amount: Decimal,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub invoices: Vec<AppliedInvoice>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AppliedInvoice {
    pub invoice_id: String,
    #[serde(with = "rust_decimal::serde::float")]
    pub amount_applied: Decimal,
}

#[derive(Debug, Deserialize)]
struct PageContext {
    #[serde(default)]
    has_more_page: bool,
}

/// Books' largest page (§2.1).
const PER_PAGE: usize = 200;

/// Judges the Books envelope: any non-zero `code` is an error whatever the HTTP status, and a
/// non-2xx status without a `code` is one too.
pub(crate) fn check_envelope(answer: &Answer) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct Head {
        code: Option<i64>,
        message: Option<String>,
    }
    let head: Head =
        serde_json::from_slice(&answer.body).map_err(|e| Error::UnexpectedResponse {
            status: answer.status,
            problem: format!("not a Books answer: {e}"),
            excerpt: String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
                .into_owned(),
            write: answer.write,
        })?;
    let ok_status = (200..300).contains(&answer.status);
    match head.code {
        Some(0) if ok_status => Ok(()),
        code => Err(Error::Books {
            status: answer.status,
            code: code.unwrap_or(-1),
            message: head.message.unwrap_or_else(|| "no message".into()),
            write: answer.write,
        }),
    }
}

impl Books {
    pub(crate) fn new(client: Client, organization_id: String) -> Books {
        Books {
            client,
            organization_id,
        }
    }

    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        extra_query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        key: &str,
    ) -> Result<T, Error> {
        let mut query: Vec<(&str, &str)> = vec![("organization_id", self.organization_id.as_str())];
        query.extend_from_slice(extra_query);
        let path = format!("/books/v3{path}");
        let answer = self
            .client
            .send(
                check_envelope,
                &Call {
                    meter: Meter {
                        product: Product::Finance,
                        organization: &self.organization_id,
                        cost: 1,
                    },
                    method,
                    path: &path,
                    query: &query,
                    headers: &[],
                    body,
                },
            )
            .await?;
        extract(&answer, key)
    }

    /// Every row of a list, page by page.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, &str)],
        key: &str,
    ) -> Result<Vec<T>, Error> {
        let mut rows = Vec::new();
        let per_page = PER_PAGE.to_string();
        for page in 1.. {
            let page = page.to_string();
            let mut query: Vec<(&str, &str)> = filters.to_vec();
            query.push(("page", &page));
            query.push(("per_page", &per_page));
            let body: serde_json::Map<String, serde_json::Value> =
                self.call(Method::GET, path, &query, None, "").await?;
            let list =
                ListPage::<T>::from_body(body, key).map_err(|e| Error::UnexpectedResponse {
                    status: 200,
                    problem: format!("unexpected shape for {key}: {e}"),
                    excerpt: String::new(),
                    write: false,
                })?;
            rows.extend(list.rows);
            if !list.has_more {
                break;
            }
        }
        Ok(rows)
    }

    pub async fn create_contact(&self, contact: &NewContact) -> Result<Contact, Error> {
        let body = to_value(contact)?;
        self.call(Method::POST, "/contacts", &[], Some(&body), "contact")
            .await
    }

    pub async fn get_contact(&self, contact_id: &str) -> Result<Contact, Error> {
        self.call(
            Method::GET,
            &format!("/contacts/{contact_id}"),
            &[],
            None,
            "contact",
        )
        .await
    }

    /// Customers whose primary contact person has this e-mail (exact, case-insensitive).
    pub async fn find_customers_by_email(&self, email: &str) -> Result<Vec<Contact>, Error> {
        let rows: Vec<Contact> = self
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
            .list_all("/contacts", &[("contact_name", name)], "contacts")
            .await?;
        Ok(rows.into_iter().find(|c| c.contact_name == name))
    }

    pub async fn create_invoice(&self, invoice: &NewInvoice) -> Result<Invoice, Error> {
        let body = to_value(invoice)?;
        self.call(Method::POST, "/invoices", &[], Some(&body), "invoice")
            .await
    }

    pub async fn get_invoice(&self, invoice_id: &str) -> Result<Invoice, Error> {
        self.call(
            Method::GET,
            &format!("/invoices/{invoice_id}"),
            &[],
            None,
            "invoice",
        )
        .await
    }

    /// Invoices whose `reference_number` is exactly `reference` (the list filter may match more
    /// loosely, so rows are checked).
    pub async fn find_invoices_by_reference(&self, reference: &str) -> Result<Vec<Invoice>, Error> {
        let rows: Vec<Invoice> = self
            .list_all("/invoices", &[("reference_number", reference)], "invoices")
            .await?;
        Ok(rows
            .into_iter()
            .filter(|i| i.reference_number.as_deref() == Some(reference))
            .collect())
    }

    /// `draft` → `sent` without e-mailing the customer.
    pub async fn mark_invoice_sent(&self, invoice_id: &str) -> Result<(), Error> {
        let _: serde_json::Value = self
            .call(
                Method::POST,
                &format!("/invoices/{invoice_id}/status/sent"),
                &[],
                None,
                "",
            )
            .await?;
        Ok(())
    }

    pub async fn create_customer_payment(
        &self,
        payment: &NewCustomerPayment,
    ) -> Result<CustomerPayment, Error> {
        let body = to_value(payment)?;
        self.call(
            Method::POST,
            "/customerpayments",
            &[],
            Some(&body),
            "payment",
        )
        .await
    }

    /// Customer payments whose `reference_number` is exactly `reference`.
    pub async fn find_customer_payments_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<CustomerPayment>, Error> {
        let rows: Vec<CustomerPayment> = self
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
}

fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::Config(format!("cannot serialize request: {e}")))
}

/// One page of a list answer: the rows under `key` and whether more pages follow.
struct ListPage<T> {
    rows: Vec<T>,
    has_more: bool,
}

impl<T: DeserializeOwned> ListPage<T> {
    fn from_body(
        mut body: serde_json::Map<String, serde_json::Value>,
        key: &str,
    ) -> Result<Self, serde_json::Error> {
        let has_more = body
            .remove("page_context")
            .map(serde_json::from_value::<PageContext>)
            .transpose()?
            .is_some_and(|pc| pc.has_more_page);
        let rows = match body.remove(key) {
            Some(rows) => serde_json::from_value(rows)?,
            None => Vec::new(),
        };
        Ok(ListPage { rows, has_more })
    }
}

/// Takes `key` out of the envelope, or the whole body when `key` is empty.
fn extract<T: DeserializeOwned>(answer: &Answer, key: &str) -> Result<T, Error> {
    let problem = |e: serde_json::Error| Error::UnexpectedResponse {
        status: answer.status,
        problem: format!(
            "unexpected shape for {}: {e}",
            if key.is_empty() { "the answer" } else { key }
        ),
        excerpt: String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).into_owned(),
        write: answer.write,
    };
    if key.is_empty() {
        return serde_json::from_slice(&answer.body).map_err(problem);
    }
    let mut body: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&answer.body).map_err(problem)?;
    let value = body.remove(key).unwrap_or(serde_json::Value::Null);
    serde_json::from_value(value).map_err(problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: Bytes::from(body.to_string()),
            write: true,
        }
    }

    #[test]
    fn non_zero_code_is_an_error_even_with_http_200() {
        let e =
            check_envelope(&answer(200, r#"{"code":1001,"message":"Invalid value"}"#)).unwrap_err();
        assert_eq!(e.books_code(), Some(1001));
        assert!(check_envelope(&answer(201, r#"{"code":0,"message":"ok"}"#)).is_ok());
        let dup = check_envelope(&answer(
            400,
            r#"{"code":3062,"message":"The customer \"Ada\" already exists. Please specify a different name."}"#,
        ))
        .unwrap_err();
        assert_eq!(dup.books_code(), Some(3062));
        assert!(dup.to_string().contains("already exists"));
    }

    #[test]
    fn pages_find_their_rows_and_continuation() {
        let page = ListPage::<Contact>::from_body(
            serde_json::from_str(
                r#"{"code":0,"message":"success","contacts":[{"contact_id":"460000000026049","contact_name":"Ada Lovelace","email":"ada@example.com"}],
                   "page_context":{"page":1,"per_page":200,"has_more_page":true}}"#,
            )
            .unwrap(),
            "contacts",
        )
        .unwrap();
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.rows[0].contact_id, "460000000026049");
        assert!(page.has_more);
    }

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
            r#"{"name":"Tea","rate":102.21,"quantity":1.0}"#
        );
        let invoice: Invoice = serde_json::from_str(
            r#"{"invoice_id":"1","status":"paid","customer_id":"2","total":102.21,"balance":0}"#,
        )
        .unwrap();
        assert_eq!(invoice.total, Decimal::new(10221, 2));
        assert_eq!(invoice.status, InvoiceStatus::Paid);
    }
}

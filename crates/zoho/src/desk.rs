//! Zoho Desk v1 (zoho.md §5): tickets (created in a department with an inline contact that Desk
//! finds or makes by e-mail, updated, commented, found by a custom field), contacts,
//! departments, and webhooks (their deliveries are arrays of events, verified by a secret in
//! the URL since Desk signs nothing).
//!
//! Desk lives on its own host, takes the organization as an `orgId` header, answers bare
//! objects (lists under `data`, 204 when empty), and words errors `{errorCode, message}`.

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use crate::client::segment;
use crate::client::to_value;
use crate::client::{Answer, Call, Client, Host, Meter};
use crate::error::Error;
use crate::quota::Product;

/// Zoho Desk for one organization (`orgId`).
#[derive(Debug, Clone)]
pub struct Desk {
    client: Client,
    org_id: String,
}

/// A contact given inline with a ticket: Desk reuses the contact with this e-mail.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InlineContact {
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// `POST /tickets`: a subject, a department, and a contact (by id or inline).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewTicket {
    pub subject: String,
    pub department_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<InlineContact>,
    /// HTML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `High`, `Medium` or `Low`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// `Open` (default), `On Hold`, `Escalated`, `Closed` or the organization's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Question`, `Problem`, `Request`, `Others`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Custom fields by API name (`cf_order_id`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub cf: Map<String, Value>,
}

/// `PATCH /tickets/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TicketUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub cf: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: String,
    #[serde(default)]
    pub ticket_number: Option<String>,
    pub subject: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub department_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub cf: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewContact {
    pub last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub cf: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub last_name: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: String,
    pub content: String,
    #[serde(default)]
    pub is_public: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Department {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub subscriptions: Map<String, Value>,
}

/// One event of a Desk webhook delivery.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `Ticket_Add`, `Ticket_Update`, `Ticket_Comment_Add`, `Contact_Add`, …
    pub event_type: String,
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub event_time: Option<String>,
    pub payload: Value,
    #[serde(default)]
    pub prev_state: Option<Value>,
}

/// Why a Desk webhook delivery was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("the delivery does not carry the webhook's secret")]
    WrongSecret,
    #[error("the body is not an array of Desk events: {0}")]
    Malformed(String),
    #[error("the delivery is for Desk organization {0}, not ours")]
    WrongOrganization(String),
}

/// Checks a delivery: Desk signs nothing, so the webhook's URL carries a secret (`?secret=…`)
/// that the delivery must repeat; then the body must be an array of events for our
/// organization.
pub fn verify_delivery(
    expected_secret: &str,
    given_secret: Option<&str>,
    org_id: &str,
    body: &[u8],
) -> Result<Vec<Event>, DeliveryError> {
    let given = given_secret.unwrap_or_default();
    if expected_secret.is_empty() || !bool::from(given.as_bytes().ct_eq(expected_secret.as_bytes()))
    {
        return Err(DeliveryError::WrongSecret);
    }
    let events: Vec<Event> =
        serde_json::from_slice(body).map_err(|e| DeliveryError::Malformed(e.to_string()))?;
    if let Some(other) = events
        .iter()
        .filter_map(|e| e.org_id.as_deref())
        .find(|o| *o != org_id)
    {
        return Err(DeliveryError::WrongOrganization(other.to_string()));
    }
    Ok(events)
}

fn check(answer: &Answer) -> Result<(), Error> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Err(Error::Api {
        product: "Desk",
        status: answer.status,
        code: match text("errorCode") {
            c if c.is_empty() => format!("HTTP_{}", answer.status),
            c => c,
        },
        message: text("message"),
        details: body.get("errors").cloned().unwrap_or(Value::Null),
        write: answer.write,
    })
}

fn decode<T: for<'de> Deserialize<'de>>(answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::UnexpectedResponse {
        status: answer.status,
        problem: format!("not a Desk answer: {e}"),
        excerpt: String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).into_owned(),
        write: answer.write,
    })
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

/// Desk's largest page.
const LIMIT: usize = 100;

impl Desk {
    pub(crate) fn new(client: Client, org_id: String) -> Desk {
        Desk { client, org_id }
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let path = format!("/api/v1{path}");
        let headers = [("orgId", self.org_id.clone())];
        self.client
            .send(
                check,
                &Call {
                    meter: Meter {
                        product: Product::Desk,
                        organization: &self.org_id,
                        cost: 1,
                    },
                    host: Host::Desk,
                    method,
                    path: &path,
                    query,
                    headers: &headers,
                    body,
                },
            )
            .await
    }

    async fn one<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let answer = self.send(method, path, &[], body).await?;
        decode(&answer)
    }

    /// Every row of a list, `from`/`limit` page by page.
    async fn all<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<T>, Error> {
        let mut rows = Vec::new();
        let limit = LIMIT.to_string();
        loop {
            let from = rows.len().to_string();
            let mut query = filters.to_vec();
            query.push(("from", &from));
            query.push(("limit", &limit));
            let answer = self.send(Method::GET, path, &query, None).await?;
            if answer.status == 204 || answer.body.is_empty() {
                break;
            }
            let page: List<T> = decode(&answer)?;
            let n = page.data.len();
            rows.extend(page.data);
            if n < LIMIT {
                break;
            }
        }
        Ok(rows)
    }

    pub async fn departments(&self) -> Result<Vec<Department>, Error> {
        self.all("/departments", &[]).await
    }

    // Tickets ------------------------------------------------------------------------------

    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, Error> {
        if ticket.contact_id.is_none() && ticket.contact.is_none() {
            return Err(Error::InvalidInput(
                "a Desk ticket needs a contactId or an inline contact".into(),
            ));
        }
        let body = to_value(ticket)?;
        self.one(Method::POST, "/tickets", Some(&body)).await
    }

    pub async fn get_ticket(&self, ticket_id: &str) -> Result<Ticket, Error> {
        self.one(
            Method::GET,
            &format!("/tickets/{}", segment(ticket_id)?),
            None,
        )
        .await
    }

    pub async fn update_ticket(
        &self,
        ticket_id: &str,
        update: &TicketUpdate,
    ) -> Result<Ticket, Error> {
        let body = to_value(update)?;
        self.one(
            Method::PATCH,
            &format!("/tickets/{}", segment(ticket_id)?),
            Some(&body),
        )
        .await
    }

    /// Adds a comment (private unless `public`).
    pub async fn comment(
        &self,
        ticket_id: &str,
        content: &str,
        public: bool,
    ) -> Result<Comment, Error> {
        let body =
            serde_json::json!({"content": content, "isPublic": public, "contentType": "plainText"});
        self.one(
            Method::POST,
            &format!("/tickets/{}/comments", segment(ticket_id)?),
            Some(&body),
        )
        .await
    }

    pub async fn comments(&self, ticket_id: &str) -> Result<Vec<Comment>, Error> {
        self.all(&format!("/tickets/{}/comments", segment(ticket_id)?), &[])
            .await
    }

    /// Tickets whose custom field has this value — how a retried create finds the ticket an
    /// earlier attempt made (Desk has no idempotency key, §6).
    pub async fn find_tickets_by_custom_field(
        &self,
        api_name: &str,
        value: &str,
    ) -> Result<Vec<Ticket>, Error> {
        let criterion = format!("{api_name}:{value}");
        let rows: Vec<Ticket> = self
            .all("/tickets/search", &[("customField1", criterion.as_str())])
            .await?;
        Ok(rows
            .into_iter()
            .filter(|t| t.cf.get(api_name).and_then(Value::as_str) == Some(value))
            .collect())
    }

    // Contacts -----------------------------------------------------------------------------

    pub async fn create_contact(&self, contact: &NewContact) -> Result<Contact, Error> {
        let body = to_value(contact)?;
        self.one(Method::POST, "/contacts", Some(&body)).await
    }

    pub async fn get_contact(&self, contact_id: &str) -> Result<Contact, Error> {
        self.one(
            Method::GET,
            &format!("/contacts/{}", segment(contact_id)?),
            None,
        )
        .await
    }

    pub async fn find_contacts_by_email(&self, email: &str) -> Result<Vec<Contact>, Error> {
        self.all("/contacts/search", &[("email", email)]).await
    }

    // Webhooks -----------------------------------------------------------------------------

    /// Subscribes `url` (which should carry a `secret` query parameter) to events.
    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> Result<Webhook, Error> {
        let subscriptions: Map<String, Value> = events
            .iter()
            .map(|e| ((*e).to_string(), Value::Null))
            .collect();
        let body = serde_json::json!({"url": url, "subscriptions": subscriptions});
        self.one(Method::POST, "/webhooks", Some(&body)).await
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, Error> {
        let answer = self.send(Method::GET, "/webhooks", &[], None).await?;
        if answer.status == 204 || answer.body.is_empty() {
            return Ok(Vec::new());
        }
        Ok(decode::<List<Webhook>>(&answer)?.data)
    }

    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<(), Error> {
        self.send(
            Method::DELETE,
            &format!("/webhooks/{}", segment(webhook_id)?),
            &[],
            None,
        )
        .await?;
        Ok(())
    }
}

impl Client {
    /// Zoho Desk for one organization (`orgId`).
    pub fn desk(&self, org_id: impl Into<String>) -> Desk {
        Desk::new(self.clone(), org_id.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_need_the_secret_and_our_organization() {
        let body = br#"[{"eventType":"Ticket_Add","orgId":"6000","eventTime":"2026-11-25T10:00:00.000Z","payload":{"id":"1","subject":"Refund"}}]"#;
        let events = verify_delivery("s3cret", Some("s3cret"), "6000", body).unwrap();
        assert_eq!(events[0].event_type, "Ticket_Add");
        assert_eq!(
            verify_delivery("s3cret", Some("guess"), "6000", body),
            Err(DeliveryError::WrongSecret)
        );
        assert_eq!(
            verify_delivery("s3cret", None, "6000", body),
            Err(DeliveryError::WrongSecret)
        );
        assert!(matches!(
            verify_delivery("s3cret", Some("s3cret"), "7000", body),
            Err(DeliveryError::WrongOrganization(_))
        ));
        assert!(matches!(
            verify_delivery("s3cret", Some("s3cret"), "6000", b"{\"eventType\":1}"),
            Err(DeliveryError::Malformed(_))
        ));
    }
}

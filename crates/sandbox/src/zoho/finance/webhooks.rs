//! Books workflow webhooks going out. Zoho has no API to set them up (an admin attaches them to
//! workflow rules), so the control API does: `POST /__sandbox/books/webhooks` with the
//! organization, the module (`invoice`, `contact`, `payment`, `creditnote`, `salesorder`,
//! `item`), the events (`create`, `edit`), the URL and, to "secure this webhook", a secret.
//! Every create or edit answered with the record posts the default payload (`{"invoice": {…}}`);
//! with a secret, `X-Zoho-Webhook-Signature` carries the hex HMAC-SHA256 of the URL's query
//! parameters sorted by name (each name then value) followed by the body (zoho.md §2.10).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::super::ZohoSandbox;

/// A webhook attached to a workflow rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BooksWebhook {
    pub organization_id: String,
    pub module: String,
    #[serde(default = "both")]
    pub events: Vec<String>,
    pub url: String,
    /// Signs deliveries when set (12 to 50 characters, as Zoho asks).
    #[serde(default)]
    pub secret: Option<String>,
}

fn both() -> Vec<String> {
    vec!["create".into(), "edit".into()]
}

/// A delivery the simulator made.
#[derive(Debug, Clone, Serialize)]
pub struct BooksDelivery {
    pub url: String,
    pub event: String,
    pub body: Value,
    pub signature: Option<String>,
    pub status: Option<u16>,
}

pub(in crate::zoho) async fn control_add(
    State(sandbox): State<ZohoSandbox>,
    Json(webhook): Json<BooksWebhook>,
) -> Response {
    if let Some(secret) = &webhook.secret
        && !(12..=50).contains(&secret.chars().count())
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "the secret must be 12 to 50 characters"})),
        )
            .into_response();
    }
    if url::Url::parse(&webhook.url).is_err() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "url is not a URL"})),
        )
            .into_response();
    }
    sandbox.world().books_webhooks.push(webhook);
    StatusCode::CREATED.into_response()
}

pub(in crate::zoho) async fn control_deliveries(State(sandbox): State<ZohoSandbox>) -> Response {
    Json(sandbox.world().books_deliveries.clone()).into_response()
}

fn signature(secret: &str, url: &str, body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = url::Url::parse(url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl ZohoSandbox {
    /// Posts a record's create or edit to the organization's webhooks for its module.
    pub(super) fn books_webhook(
        &self,
        organization_id: &str,
        module: &str,
        event: &str,
        record: &Value,
    ) {
        let targets: Vec<BooksWebhook> = self
            .world()
            .books_webhooks
            .iter()
            .filter(|w| {
                w.organization_id == organization_id
                    && w.module == module
                    && w.events.iter().any(|e| e == event)
            })
            .cloned()
            .collect();
        for webhook in targets {
            let body = json!({ module: record });
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let signature = webhook
                .secret
                .as_deref()
                .map(|secret| signature(secret, &webhook.url, &bytes));
            let sandbox = self.clone();
            let event = event.to_string();
            tokio::spawn(async move {
                let mut request = sandbox
                    .inner
                    .http
                    .post(&webhook.url)
                    .header("content-type", "application/json")
                    .body(bytes);
                if let Some(signature) = &signature {
                    request = request.header("X-Zoho-Webhook-Signature", signature);
                }
                let status = request.send().await.ok().map(|r| r.status().as_u16());
                sandbox.world().books_deliveries.push(BooksDelivery {
                    url: webhook.url,
                    event,
                    body,
                    signature,
                    status,
                });
            });
        }
    }
}

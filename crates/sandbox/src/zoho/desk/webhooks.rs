//! Desk webhooks: subscribed, listed, deleted; events delivered with the subscription's secret.

use super::super::ZohoSandbox;
use crate::ids;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::{Webhook, body_object, enter, error, invalid, now_desk, text};

// ---------------------------------------------------------------------------------------------
// Webhooks
pub(crate) const EVENTS: [&str; 6] = [
    "Ticket_Add",
    "Ticket_Update",
    "Ticket_Comment_Add",
    "Contact_Add",
    "Contact_Update",
    "Ticket_Delete",
];

pub(crate) fn webhook_json(w: &Webhook) -> Value {
    json!({"id": w.id, "url": w.url, "subscriptions": w.subscriptions, "createdTime": w.created_time})
}

pub(crate) async fn create_webhook(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let body = guard!(body_object(&body));
    let url = text(&body, "url");
    if url::Url::parse(&url)
        .ok()
        .is_none_or(|u| !matches!(u.scheme(), "http" | "https"))
    {
        return invalid(&[("url", "invalid")]);
    }
    let Some(subscriptions) = body
        .get("subscriptions")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .cloned()
    else {
        return invalid(&[("subscriptions", "missing")]);
    };
    if subscriptions.keys().any(|k| !EVENTS.contains(&k.as_str())) {
        return invalid(&[("subscriptions", "invalid")]);
    }
    let webhook = Webhook {
        id: ids::zoho_id(&sandbox.inner.ids),
        org_id: org.clone(),
        url,
        subscriptions,
        created_time: now_desk(),
    };
    let answer = webhook_json(&webhook);
    sandbox
        .world()
        .desk
        .orgs
        .get_mut(&org)
        .expect("checked org")
        .webhooks
        .push(webhook);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

pub(crate) async fn list_webhooks(
    State(sandbox): State<ZohoSandbox>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let data: Vec<Value> = sandbox.world().desk.orgs[&org]
        .webhooks
        .iter()
        .map(webhook_json)
        .collect();
    (StatusCode::OK, axum::Json(json!({"data": data}))).into_response()
}

pub(crate) async fn delete_webhook(
    State(sandbox): State<ZohoSandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (_guard, org) = guard!(enter(&sandbox, &headers, &query, &[], true));
    let mut world = sandbox.world();
    let webhooks = &mut world.desk.orgs.get_mut(&org).expect("checked org").webhooks;
    let before = webhooks.len();
    webhooks.retain(|w| w.id != id);
    if webhooks.len() == before {
        return error(
            StatusCode::NOT_FOUND,
            "URL_NOT_FOUND",
            "The URL you requested could not be found.",
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

//! Inbound webhooks: verified, committed to the inbox, acknowledged, and processed later.
//!
//! `POST /webhooks/cybersource` checks the `v-c-signature` HMAC against the subscription's
//! signing keys and its timestamp window, commits the notification (duplicates collapse on
//! webhook, resource and event type), and answers `202` — or `200` for a duplicate — only once
//! the event is committed. A delivery that is malformed (`400`) or unverifiable (`401`) is
//! refused with the reason and counted, and nothing of it is stored; a store that cannot
//! commit answers `503` so that Cybersource delivers again.
//!
//! `POST /webhooks/zoho/books` takes Zoho Books workflow-rule webhooks (the record as the
//! default payload, JSON or the `JSONString` form field), proven by a shared secret in a header
//! or query parameter, or by `X-Zoho-Webhook-Signature` (`[zoho.webhooks]`); the same rules
//! hold: committed before `202`, the same delivery again `200`, refused with the reason.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paybridge_cybersource::webhooks::WebhookError;
use serde_json::json;

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhooks/cybersource", post(cybersource))
        .route("/webhooks/zoho/books", post(zoho_books))
}

fn refused(status: StatusCode, reason: &'static str, message: String) -> Response {
    refused_from("cybersource", status, reason, message)
}

fn refused_from(
    source: &'static str,
    status: StatusCode,
    reason: &'static str,
    message: String,
) -> Response {
    metrics::counter!("paybridge_webhooks_total", "source" => source, "outcome" => "refused", "reason" => reason)
        .increment(1);
    tracing::warn!(source, reason, %message, "a webhook delivery was refused");
    (
        status,
        Json(json!({"error": {"code": reason, "message": message}})),
    )
        .into_response()
}

async fn cybersource(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(verifier) = &state.cybersource_webhooks else {
        return refused(
            StatusCode::NOT_FOUND,
            "not_configured",
            "Cybersource webhooks are not configured here (cybersource.webhooks in paybridge.toml)"
                .into(),
        );
    };
    let signature = headers.get("v-c-signature").and_then(|v| v.to_str().ok());
    let notification = match verifier.verify(signature, &body, state.engine.clock.now_ms()) {
        Ok(notification) => notification,
        // The same signed delivery again: it is in already.
        Err(WebhookError::Replayed) => {
            metrics::counter!("paybridge_webhooks_total", "source" => "cybersource", "outcome" => "duplicate")
                .increment(1);
            return (StatusCode::OK, Json(json!({"duplicate": true}))).into_response();
        }
        Err(e @ WebhookError::InvalidBody(_)) => {
            return refused(StatusCode::BAD_REQUEST, "invalid_body", e.to_string());
        }
        Err(e) => {
            let reason = match e {
                WebhookError::MissingSignature => "missing_signature",
                WebhookError::MalformedSignature(_) => "malformed_signature",
                WebhookError::UnknownKey(_) => "unknown_key",
                WebhookError::Stale(_) => "stale",
                _ => "bad_signature",
            };
            return refused(StatusCode::UNAUTHORIZED, reason, e.to_string());
        }
    };
    let stored = serde_json::to_value(&notification).unwrap_or_default();
    if !paybridge_model::pan::find_in_json(&stored).is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "card_number",
            "the notification carries a card number; paybridge stores none".into(),
        );
    }
    match state
        .engine
        .accept_cybersource_event(
            notification.dedupe_key(),
            notification.event_type.to_string(),
            notification.resource_id(),
            stored,
        )
        .await
    {
        Ok(accepted) if accepted.duplicate => {
            metrics::counter!("paybridge_webhooks_total", "source" => "cybersource", "outcome" => "duplicate")
                .increment(1);
            (
                StatusCode::OK,
                Json(json!({"duplicate": true, "event_id": accepted.event_id})),
            )
                .into_response()
        }
        Ok(accepted) => {
            metrics::counter!("paybridge_webhooks_total", "source" => "cybersource", "outcome" => "accepted")
                .increment(1);
            (
                StatusCode::ACCEPTED,
                Json(json!({"accepted": true, "event_id": accepted.event_id})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot commit a Cybersource webhook; it will be delivered again");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": {"code": "unavailable", "message": "the event could not be stored; deliver it again"}})),
            )
                .into_response()
        }
    }
}

fn pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn zoho_books(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use paybridge_zoho::webhooks::{Delivery, WebhookError};
    const SOURCE: &str = "zoho-books";
    let Some(auth) = &state.zoho_books_webhooks else {
        return refused_from(
            SOURCE,
            StatusCode::NOT_FOUND,
            "not_configured",
            "Zoho Books webhooks are not configured here (zoho.webhooks in paybridge.toml)".into(),
        );
    };
    let query = pairs(query.as_deref().unwrap_or_default());
    let form_body = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    // A form body carries the record as its `JSONString` field; the other fields are signed
    // with the query's.
    let (form, json) = if form_body {
        let Ok(text) = std::str::from_utf8(&body) else {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the form body is not UTF-8".into(),
            );
        };
        let mut form = pairs(text);
        let Some(at) = form.iter().position(|(name, _)| name == "JSONString") else {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the form body has no JSONString field (use the default payload)".into(),
            );
        };
        let (_, json) = form.remove(at);
        (form, Bytes::from(json))
    } else {
        (Vec::new(), body.clone())
    };
    let delivery = Delivery {
        headers: headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        query,
        form,
        body: &json,
        now_ms: state.engine.clock.now_ms(),
    };
    let verified = crate::read(auth).verify(&delivery);
    let event = match verified {
        Ok(event) => event,
        Err(e @ WebhookError::Malformed(_)) => {
            return refused_from(
                SOURCE,
                StatusCode::BAD_REQUEST,
                "invalid_body",
                e.to_string(),
            );
        }
        Err(e) => {
            let reason = match e {
                WebhookError::Missing(_) => "missing_proof",
                WebhookError::WrongToken => "wrong_token",
                WebhookError::MalformedSignature(_) => "malformed_signature",
                WebhookError::Stale(_) => "stale",
                _ => "bad_signature",
            };
            return refused_from(SOURCE, StatusCode::UNAUTHORIZED, reason, e.to_string());
        }
    };
    if !paybridge_model::pan::find_in_json(&serde_json::Value::Object(event.record.clone()))
        .is_empty()
    {
        return refused_from(
            SOURCE,
            StatusCode::BAD_REQUEST,
            "card_number",
            "the record carries a card number; paybridge stores none".into(),
        );
    }
    let module = event.module.clone();
    match state
        .engine
        .accept_zoho_books_event(&module, event.record, &json)
        .await
    {
        Ok(accepted) if accepted.duplicate => {
            metrics::counter!("paybridge_webhooks_total", "source" => SOURCE, "outcome" => "duplicate")
                .increment(1);
            (
                StatusCode::OK,
                Json(json!({"duplicate": true, "event_id": accepted.event_id})),
            )
                .into_response()
        }
        Ok(accepted) => {
            metrics::counter!("paybridge_webhooks_total", "source" => SOURCE, "outcome" => "accepted")
                .increment(1);
            (
                StatusCode::ACCEPTED,
                Json(json!({"accepted": true, "event_id": accepted.event_id, "event_type": format!("books.{module}")})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot commit a Zoho Books webhook; it will be delivered again");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": {"code": "unavailable", "message": "the event could not be stored; deliver it again"}})),
            )
                .into_response()
        }
    }
}

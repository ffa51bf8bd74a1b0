//! Inbound webhooks: verified, committed to the inbox, acknowledged, and processed later.
//!
//! `POST /webhooks/cybersource` checks the `v-c-signature` HMAC against the subscription's
//! signing keys and its timestamp window, commits the notification (duplicates collapse on
//! webhook, resource and event type), and answers `202` — or `200` for a duplicate — only once
//! the event is committed. A delivery that is malformed (`400`) or unverifiable (`401`) is
//! refused with the reason and counted, and nothing of it is stored; a store that cannot
//! commit answers `503` so that Cybersource delivers again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paybridge_cybersource::webhooks::WebhookError;
use serde_json::json;

use crate::AppState;

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/webhooks/cybersource", post(cybersource))
}

fn refused(status: StatusCode, reason: &'static str, message: String) -> Response {
    metrics::counter!("paybridge_webhooks_total", "source" => "cybersource", "outcome" => "refused", "reason" => reason)
        .increment(1);
    tracing::warn!(reason, %message, "a Cybersource webhook delivery was refused");
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
